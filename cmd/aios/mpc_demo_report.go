package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/aios-edge/aios/api/schema"
)

// demoNode is one node of the demo, as its report lists it.
type demoNode struct {
	Index int    `json:"index"`
	ID    string `json:"id"`
	URL   string `json:"url"`
	Role  string `json:"role"`
}

// demoPhase is one timed step of the demo.
type demoPhase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// demoReport is what `aios mpc demo` prints.
type demoReport struct {
	Nodes     []*demoNode              `json:"nodes"`
	Threshold int                      `json:"threshold"`
	Dimension int                      `json:"dimension"`
	Epsilon   string                   `json:"epsilon"`
	Session   string                   `json:"session"`
	State     string                   `json:"state"`
	Phases    []demoPhase              `json:"phases"`
	Included  []int                    `json:"included"`
	Excluded  []schema.MPCExcluded     `json:"excluded"`
	Holders   []int                    `json:"holders"`
	Dropped   []int                    `json:"dropped"`
	Error     demoError                `json:"error_vs_true_aggregate"`
	NodeStats map[int]*schema.MPCStats `json:"node_stats"`
	Dir       string                   `json:"dir,omitempty"`
}

// demoError compares the released sum with the true sum of the included
// inputs (which only the demo, holding every input, can compute).
type demoError struct {
	MaxAbs       float64 `json:"max_abs"`
	MeanAbs      float64 `json:"mean_abs"`
	LaplaceScale float64 `json:"laplace_scale"` // expected mean |error|
	CICoverage   float64 `json:"ci95_coverage"` // fraction of true values inside their 95% interval
}

func (r *demoReport) index(id string) int {
	for _, n := range r.Nodes {
		if n.ID == id {
			return n.Index
		}
	}
	return -1
}

func (r *demoReport) text(w io.Writer) error {
	fmt.Fprintf(w, "aios mpc demo: %d nodes, t = %d, sum of %d coordinates, ε = %s\n", len(r.Nodes), r.Threshold, r.Dimension, r.Epsilon)
	for _, n := range r.Nodes {
		fmt.Fprintf(w, "  node %d  %s  %s  %s\n", n.Index, short(n.ID), n.URL, n.Role)
	}
	fmt.Fprintf(w, "session %s: %s\n", short(r.Session), r.State)
	fmt.Fprintf(w, "phases (wall clock; session phases are the coordinator's state changes, polled every 10 ms):\n")
	for _, p := range r.Phases {
		fmt.Fprintf(w, "  %-44s %7.3f s\n", p.Name, p.Seconds)
	}
	fmt.Fprintf(w, "included dealers: %v; holders: %v\n", r.Included, r.Holders)
	if len(r.Excluded) == 0 {
		fmt.Fprintln(w, "excluded: none")
	}
	for _, x := range r.Excluded {
		by := ""
		if x.Reporter != "" {
			by = fmt.Sprintf(", reported by node %d", r.index(x.Reporter))
		}
		kind := "excluded"
		if x.Cheating {
			kind = "excluded for cheating"
		}
		fmt.Fprintf(w, "%s: node %d (phase %d): %s%s\n", kind, r.index(x.Node), x.Phase, x.Reason, by)
	}
	for _, d := range r.Dropped {
		fmt.Fprintf(w, "dropped: node %d was killed after sharing its input; ", d)
		if slices.Contains(r.Included, d) {
			fmt.Fprintf(w, "its input is included (≥ t peers verified it), it holds no output share\n")
		} else {
			fmt.Fprintf(w, "its input is not included\n")
		}
	}
	e := r.Error
	fmt.Fprintf(w, "released sum vs the true sum of the included inputs: max |err| %.4g, mean |err| %.4g (Laplace scale %.4g), 95%% CI covers %.1f%%\n",
		e.MaxAbs, e.MeanAbs, e.LaplaceScale, 100*e.CICoverage)
	fmt.Fprintln(w, "per node (share / verify / combine / reconstruct seconds, bytes sent):")
	for _, n := range r.Nodes {
		if s := r.NodeStats[n.Index]; s != nil {
			fmt.Fprintf(w, "  node %d  %.3f / %.3f / %.3f / %.3f  %d\n", n.Index, s.ShareSeconds, s.VerifySeconds, s.CombineSeconds, s.ReconstructSeconds, s.BytesSent)
		}
	}
	if r.Dir != "" {
		fmt.Fprintf(w, "data directories and logs kept in %s\n", r.Dir)
	}
	return nil
}

// laplaceScale is the mean Laplace scale over the coordinates of a sum's
// release: mpc releases at most 2^16 coordinates per dp query, splitting ε
// evenly (in micro-ε) over the chunks, and each query's scale is its
// dimension times the bound over its ε.
func laplaceScale(d int, bound float64, eps int64) float64 {
	const chunk = 1 << 16
	chunks := int64((d + chunk - 1) / chunk)
	total := 0.0
	for c := range chunks {
		size := float64(min(d-int(c)*chunk, chunk))
		e := eps / chunks
		if c < eps%chunks {
			e++
		}
		total += size * size * bound * 1e6 / float64(e)
	}
	return total / float64(d)
}
