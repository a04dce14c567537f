// Package cluster runs aios nodes as separate `aios serve` processes on
// loopback, for the demos (`aios mpc demo`) and the multi-process tests.
//
// It owns what a cluster of real processes needs and no command should
// repeat: a data directory, a node key and an admin token per node, ports
// reserved before the nodes start so that one peers file can name every
// node, starting the processes and waiting for their ready files, killing
// a node (with SIGKILL, as a crash) or stopping it (SIGTERM, then SIGKILL
// after a grace period), and polling an MPC session on a node, for its
// phases and for the moment a node has sent its dealing. Every wait is
// bounded; Close stops every process and removes what Start created.
//
// Start starts a cluster; Serve starts one node on a data directory of the
// caller's, as the tests that restart a node on the same directory need.
// The executable is given by the caller: the aios binary itself, or a test
// binary that runs as aios.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aios-edge/aios/api"
	"github.com/aios-edge/aios/api/client"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/internal/store"
	"github.com/aios-edge/aios/mpc/httptransport"
)

// Default bounds of the waits.
const (
	// ReadyTimeout bounds the wait for a process's ready file.
	ReadyTimeout = 60 * time.Second
	// StopGrace is how long Stop waits after SIGTERM before it kills.
	StopGrace = 5 * time.Second
)

// ProcessOptions say how to start one `aios serve` process.
type ProcessOptions struct {
	Exe     string   // the aios executable
	Env     []string // the process's environment; nil: this process's
	DataDir string   // --data-dir
	// Addr is --addr; empty is 127.0.0.1:0 (a free port).
	Addr string
	// Args are further serve flags.
	Args []string
	// Log is the file that gets the process's output; empty: serve.log
	// in DataDir.
	Log string
}

// Process is one running `aios serve`.
type Process struct {
	url  string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

// Serve starts `aios serve` as o says and returns once the node has
// written its ready file (within ReadyTimeout), or once ctx is done.
func Serve(ctx context.Context, o ProcessOptions) (*Process, error) {
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, err
	}
	ready := filepath.Join(o.DataDir, "ready")
	os.Remove(ready) // a file left by an earlier run is not this one's
	logName := o.Log
	if logName == "" {
		logName = filepath.Join(o.DataDir, "serve.log")
	}
	logFile, err := os.Create(logName)
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--data-dir", o.DataDir, "--addr", addr, "--ready-file", ready}, o.Args...)
	p := &Process{cmd: exec.Command(o.Exe, args...), log: logFile, done: make(chan struct{})}
	p.cmd.Env = o.Env
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	if p.url, err = p.waitReady(ctx, ready); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

func (p *Process) waitReady(ctx context.Context, ready string) (string, error) {
	deadline := time.After(ReadyTimeout)
	for {
		if b, err := os.ReadFile(ready); err == nil && strings.HasSuffix(string(b), "\n") {
			return strings.TrimSpace(string(b)), nil
		}
		select {
		case <-p.done:
			return "", fmt.Errorf("aios serve exited before serving: %s", p.logTail(500))
		case <-ctx.Done():
			return "", ctx.Err()
		case <-deadline:
			return "", fmt.Errorf("aios serve did not come up within %v", ReadyTimeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// URL returns the URL the node serves on, from its ready file.
func (p *Process) URL() string { return p.url }

// PID returns the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Log returns the process's output so far.
func (p *Process) Log() []byte {
	b, _ := os.ReadFile(p.log.Name())
	return b
}

func (p *Process) logTail(n int) string {
	b := p.Log()
	return strings.TrimSpace(string(b[max(0, len(b)-n):]))
}

// Kill kills the process with SIGKILL, as a crash would, and waits until
// it has exited.
func (p *Process) Kill() {
	p.cmd.Process.Kill()
	<-p.done
	p.log.Close()
}

// Stop asks the process to stop (SIGTERM) and kills it if it has not
// exited after grace.
func (p *Process) Stop(grace time.Duration) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

// Options say how to start a cluster.
type Options struct {
	Exe   string   // the aios executable
	Env   []string // the processes' environment; nil: this process's
	Nodes int      // how many nodes
	// Dir is where the nodes' data directories and the peers file go;
	// empty: a new temporary directory, which Close removes unless Keep.
	Dir  string
	Keep bool
	// TokenName labels the admin token made on each node.
	TokenName string
	// Args returns further serve flags for node i; nil for none. Every
	// node gets --peers, --log-level warn and --rate -1.
	Args func(i int) []string
}

// Node is one node of a cluster.
type Node struct {
	Index  int
	ID     string // the node id, its public key in hex
	URL    string
	Dir    string // its data directory
	Token  string // an admin token
	Client *client.Client
	proc   *Process
	gone   bool // killed or stopped
}

// Cluster is a set of nodes that know each other from one peers file.
type Cluster struct {
	Nodes []*Node
	dir   string
	keep  bool
}

// Start creates the nodes' identities, tokens and peers file, starts every
// node and returns once all serve. On error it has stopped what it started
// and removed what it created.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	if o.Nodes < 1 {
		return nil, errors.New("cluster: no nodes")
	}
	c = &Cluster{dir: o.Dir, keep: o.Keep}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "aios-cluster-"); err != nil {
			return nil, err
		}
	} else {
		c.keep = true // not ours to remove
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	var peers []httptransport.Peer
	for i := range o.Nodes {
		n, p, err := newNode(ctx, c.dir, i, o.TokenName)
		if err != nil {
			return c, err
		}
		c.Nodes, peers = append(c.Nodes, n), append(peers, p)
	}
	peersFile := filepath.Join(c.dir, "peers")
	if err := os.WriteFile(peersFile, httptransport.FormatPeers(peers), 0o644); err != nil {
		return c, err
	}
	for _, n := range c.Nodes {
		args := []string{"--peers", peersFile, "--log-level", "warn", "--rate", "-1"}
		if o.Args != nil {
			args = append(args, o.Args(n.Index)...)
		}
		if err := n.start(ctx, o.Exe, o.Env, args); err != nil {
			return c, err
		}
	}
	return c, nil
}

// newNode creates node i's data directory, key and admin token, and
// reserves its port.
func newNode(ctx context.Context, dir string, i int, tokenName string) (*Node, httptransport.Peer, error) {
	n := &Node{Index: i, Dir: filepath.Join(dir, fmt.Sprintf("node%d", i))}
	k, err := nodekey.LoadOrCreate(n.Dir, nil)
	if err != nil {
		return nil, httptransport.Peer{}, err
	}
	n.ID = k.ID()
	db, err := store.Open(ctx, n.Dir)
	if err != nil {
		return nil, httptransport.Peer{}, err
	}
	n.Token, _, err = api.CreateToken(ctx, db, api.RoleAdmin, tokenName)
	db.Close()
	if err != nil {
		return nil, httptransport.Peer{}, err
	}
	addr, err := FreePort()
	if err != nil {
		return nil, httptransport.Peer{}, err
	}
	n.URL = "http://" + addr
	p, err := httptransport.ParsePeers(fmt.Appendf(nil, "%s %s node%d\n", n.ID, n.URL, i))
	if err != nil {
		return nil, httptransport.Peer{}, err
	}
	return n, p[0], nil
}

func (n *Node) start(ctx context.Context, exe string, env, args []string) error {
	p, err := Serve(ctx, ProcessOptions{Exe: exe, Env: env, DataDir: n.Dir, Addr: strings.TrimPrefix(n.URL, "http://"), Args: args})
	if err != nil {
		return fmt.Errorf("node %d: %w", n.Index, err)
	}
	n.proc = p
	if p.URL() != n.URL {
		return fmt.Errorf("node %d listens on %s, expected %s", n.Index, p.URL(), n.URL)
	}
	n.Client, err = client.New(n.URL, n.Token, client.Options{})
	return err
}

// FreePort asks the kernel for a free loopback port. The peers file must
// name every node's URL before the nodes start, so ports are reserved this
// way rather than with port 0; another process could take one in between,
// which shows as a node that does not come up.
func FreePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Dir returns the directory that holds the nodes' data directories, their
// logs (serve.log in each) and the peers file.
func (c *Cluster) Dir() string { return c.dir }

// Kill kills node n with SIGKILL, as a crash would.
func (n *Node) Kill() {
	if n.proc != nil && !n.gone {
		n.proc.Kill()
		n.gone = true
	}
}

// PID returns the process id of the node's `aios serve`, 0 before it was
// started.
func (n *Node) PID() int {
	if n.proc == nil {
		return 0
	}
	return n.proc.PID()
}

// Running reports whether the node's process was started and has been
// neither killed nor stopped.
func (n *Node) Running() bool { return n.proc != nil && !n.gone }

// Stop asks every running node to stop (SIGTERM) and kills those that
// have not stopped after StopGrace.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		if n.Running() {
			n.proc.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(StopGrace)
	for _, n := range c.Nodes {
		if n.Running() {
			n.proc.Stop(time.Until(deadline))
			n.gone = true
		}
	}
}

// Close stops the nodes and removes the cluster's directory unless it was
// given or Keep was set.
func (c *Cluster) Close() error {
	c.Stop()
	if c.keep {
		return nil
	}
	return os.RemoveAll(c.dir)
}
