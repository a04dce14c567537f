package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aios-edge/aios/api/schema"
)

func init() {
	register(&command{
		name:    "mpc",
		summary: "run secret-shared aggregation sessions between nodes (create, input, status) or a local demo",
		subs: []*command{
			{name: "create", summary: "propose a session from this node, as its coordinator",
				usage: "--server URL --token T --threshold T --op OP --dim D --lower L --upper U --budget B --epsilon E " +
					"[--frac-bits 16] [--participants ID,…] [--input-parties ID,…] [--max-weight W] [--max-items N] [--phase 30s] [--json]",
				new: func() runner { return new(mpcCreateCmd) }},
			{name: "input", summary: "give this node's private input to a session",
				usage: "SESSION --server URL --token T (--values 1,2,… | --values-file F) [--weight W] [--json]",
				new:   func() runner { return new(mpcInputCmd) }},
			{name: "status", summary: "show a session's state, exclusions and release",
				usage: "SESSION --server URL --token T [--wait] [--json]",
				new:   func() runner { return new(mpcStatusCmd) }},
			{name: "demo", summary: "start nodes as local processes, run one sum session among them and check the release",
				usage: "[--nodes 5] [--threshold 3] [--dim 10000] [--drop 1] [--cheat 1] [--epsilon E] [--phase 5s] [--json]",
				new:   func() runner { return new(mpcDemoCmd) }},
		},
	})
}

// sessionFlags are the session settings that create and demo share.
type sessionFlags struct {
	threshold, dim int
	lower, upper   float64
	epsilon        string
	phase          time.Duration
}

func (f *sessionFlags) declare(fs *flag.FlagSet, epsilonDefault string, phaseDefault time.Duration, phaseHelp string) {
	fs.IntVar(&f.threshold, "threshold", 3, "t: any t shares reconstruct, t−1 learn nothing")
	fs.IntVar(&f.dim, "dim", 10000, "coordinates per input vector (histogram: buckets)")
	fs.Float64Var(&f.lower, "lower", -1, "clamp bound: lowest value")
	fs.Float64Var(&f.upper, "upper", 1, "clamp bound: highest value")
	fs.StringVar(&f.epsilon, "epsilon", epsilonDefault, "ε of the release")
	fs.DurationVar(&f.phase, "phase", phaseDefault, phaseHelp)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// maxValuesFile bounds --values-file.
const maxValuesFile = 64 << 20

func readValues(list, file string) ([]float64, error) {
	if (list == "") == (file == "") {
		return nil, usagef("give one of --values and --values-file")
	}
	text := list
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxValuesFile+1))
		if err != nil {
			return nil, err
		}
		if len(b) > maxValuesFile {
			return nil, fmt.Errorf("%s: larger than %d bytes", file, maxValuesFile)
		}
		text = string(b)
	}
	fields := strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	out := make([]float64, len(fields))
	for i, f := range fields {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("value %d is not a finite number", i+1) // the value itself is private
		}
		out[i] = v
	}
	return out, nil
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func printSession(w io.Writer, st *schema.MPCSessionStatus) error {
	fmt.Fprintf(w, "session %s: %s\n", st.ID, st.State)
	if s := st.Spec; s != nil {
		fmt.Fprintf(w, "  %s of %d coordinates, t = %d of %d participants, budget %s, ε = %s\n", s.Operation, s.Dimension, s.Threshold,
			len(s.Participants), s.Budget, microEps(s.EpsilonMicro))
	}
	fmt.Fprintf(w, "  roster %d, included %d, holders %d\n", len(st.Roster), len(st.Included), len(st.Holders))
	for _, x := range st.Excluded {
		by := ""
		if x.Reporter != "" {
			by = ", reported by " + short(x.Reporter)
		}
		kind := "excluded"
		if x.Cheating {
			kind = "cheating"
		}
		fmt.Fprintf(w, "  %s: %s (phase %d): %s%s\n", kind, short(x.Node), x.Phase, x.Reason, by)
	}
	for _, n := range st.WrongOutput {
		fmt.Fprintf(w, "  wrong output share: %s\n", short(n))
	}
	if r := st.Release; r != nil {
		n := min(len(r.Values), 5)
		fmt.Fprintf(w, "  released (ε = %s, %d dealers, ledger %v):", r.Epsilon, r.Dealers, r.LedgerSeqs)
		for i := range n {
			fmt.Fprintf(w, " %.4g [%.4g, %.4g]", r.Values[i], r.CI[i].Lower, r.CI[i].Upper)
		}
		if len(r.Values) > n {
			fmt.Fprintf(w, " … (%d values; --json for all)", len(r.Values))
		}
		fmt.Fprintln(w)
	}
	s := st.Stats
	fmt.Fprintf(w, "  this node: share %.3fs, verify %.3fs, combine %.3fs, reconstruct %.3fs, total %.3fs, sent %d bytes\n",
		s.ShareSeconds, s.VerifySeconds, s.CombineSeconds, s.ReconstructSeconds, s.TotalSeconds, s.BytesSent)
	if st.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", st.Error)
	}
	return nil
}

func microEps(m int64) string {
	return strconv.FormatFloat(float64(m)/1e6, 'f', -1, 64)
}

// sessionArg is the session id that input and status take.
func sessionArg(e *env, sub string) (string, error) {
	if len(e.args) != 1 {
		return "", usagef("%s takes the session id", sub)
	}
	return e.args[0], nil
}
