package mpc

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkSessionSum runs whole sum sessions in-process: n nodes, d
// coordinates, t = n/2+1, on the noise-free path (the dp release is a
// separate cost). It reports the wall time of a session, the time each
// phase took per node (wall time inside the phase, averaged over nodes; the
// nodes run concurrently on the same cores), and bytes sent per node against the raw
// input (8 bytes per value).
func BenchmarkSessionSum(b *testing.B) {
	sizes := []struct{ n, d int }{{5, 10_000}, {10, 100_000}}
	if testing.Short() {
		sizes = sizes[:1]
	}
	for _, sz := range sizes {
		b.Run(fmt.Sprintf("n=%d/d=%d", sz.n, sz.d), func(b *testing.B) {
			c := newCluster(b, sz.n)
			inputs := randInputs(rand.New(rand.NewPCG(1, 1)), sz.n, sz.d, -100, 100)
			var st [5]time.Duration
			var sent, rawBytes int64
			for b.Loop() {
				lit := c.literal(OpSum, sz.n/2+1, sz.d, time.Minute)
				ctx := context.Background()
				done := make(chan struct{})
				c.nodes[0].rawForTesting = func([]float64, *Outcome) { close(done) }
				s, err := c.nodes[0].Propose(ctx, lit)
				if err != nil {
					b.Fatal(err)
				}
				for i, in := range inputs {
					if err := c.nodes[i].SetInput(s.ID(), in); err != nil {
						b.Fatal(err)
					}
				}
				for _, nd := range c.nodes {
					o, err := nd.Wait(ctx, s.ID())
					if err != nil {
						b.Fatal(err)
					}
					st[0] += o.Stats.Share
					st[1] += o.Stats.Verify
					st[2] += o.Stats.Combine
					st[3] += o.Stats.Reconstruct
					sent += o.Stats.BytesSent
					rawBytes += o.Stats.InputBytes
					nd.Forget(s.ID())
				}
				<-done
			}
			runs := float64(b.N)
			perNode := runs * float64(sz.n)
			b.ReportMetric(st[0].Seconds()/perNode, "share-s/node")
			b.ReportMetric(st[1].Seconds()/perNode, "verify-s/node")
			b.ReportMetric(st[2].Seconds()/perNode, "combine-s/node")
			b.ReportMetric(st[3].Seconds()/runs, "reconstruct-s")
			b.ReportMetric(float64(sent)/runs/float64(sz.n), "B-sent/node")
			b.ReportMetric(float64(sent)/float64(rawBytes), "sent/raw")
		})
	}
}
