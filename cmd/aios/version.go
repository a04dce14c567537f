package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at link time (-ldflags "-X main.version=…"); a plain build
// reports the module version recorded by the Go toolchain, or "dev".
var version = "dev"

func init() {
	register(&command{
		name:    "version",
		summary: "print the version of aios and of the libraries it is built on",
		new:     func() runner { return new(versionCmd) },
	})
}

// versionCmd is `aios version`.
type versionCmd struct {
	asJSON bool
}

type versionInfo struct {
	Version string            `json:"version"`
	Go      string            `json:"go"`
	OS      string            `json:"os"`
	Arch    string            `json:"arch"`
	Deps    map[string]string `json:"deps,omitempty"`
}

func (c *versionCmd) declare(fs *flag.FlagSet) { jsonFlag(fs, &c.asJSON) }

func (c *versionCmd) run(_ context.Context, e *env) error {
	info := versionInfo{Version: version, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		info.Deps = map[string]string{}
		for _, d := range bi.Deps {
			info.Deps[d.Path] = d.Version
		}
	}
	return report(e.stdout, c.asJSON, info, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "aios %s (%s %s/%s)\n", info.Version, info.Go, info.OS, info.Arch)
		return err
	})
}
