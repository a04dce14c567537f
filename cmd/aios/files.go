package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aios-edge/aios/he"
)

// Files and lists that the he commands (params, keygen, encrypt, decrypt)
// read and write.

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func loadParams(path string) (he.Parameters, error) {
	f, err := os.Open(path)
	if err != nil {
		return he.Parameters{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, he.MaxParametersBytes+1))
	if err != nil {
		return he.Parameters{}, err
	}
	p, err := he.DecodeParameters(b)
	if err != nil {
		return he.Parameters{}, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func loadKeyFile(path string) (*he.KeyMaterial, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	km, err := he.ReadKeyFile(f, he.DefaultLimits)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return km, nil
}

func openInput(e *env, path string) (io.Reader, func(), error) {
	if path == "-" {
		return e.stdin, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

func readInput(e *env, path, format string, maxLen int) ([][]float64, error) {
	r, closeIn, err := openInput(e, path)
	if err != nil {
		return nil, err
	}
	defer closeIn()
	name := path
	if path == "-" {
		name = "stdin"
	}
	return readVectors(r, name, format, maxLen)
}

// refuseExisting fails when path exists, unless force is set: no command
// overwrites an output file (a secret key above all) without --force.
func refuseExisting(path string, force bool) error {
	if force {
		return nil
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists (use --force to overwrite)", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// writeFileWith writes a file through a temporary file in the same folder
// and renames it into place, so a failure never leaves a partial file; an
// existing file is replaced only with force.
func writeFileWith(path string, mode os.FileMode, force bool, write func(io.Writer) error) error {
	if err := refuseExisting(path, force); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// writeBytes is the write function of [writeFileWith] for b.
func writeBytes(b []byte) func(io.Writer) error {
	return func(w io.Writer) error { _, err := w.Write(b); return err }
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseUints(s string) ([]uint64, error) {
	var out []uint64
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a non-negative integer", f)
		}
		out = append(out, v)
	}
	return out, nil
}
