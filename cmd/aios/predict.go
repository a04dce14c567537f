package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/aios-edge/aios/api/client"
	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/inference"
)

func init() {
	register(&command{
		name:    "predict",
		summary: "predict classes for your own rows: encrypted on a node with --server, else with the plaintext model file",
		usage: "--server URL --model NAME|ID --keys client.keys --data rows.csv [--out predictions.csv] [--packing batch|single] [--probabilities] [--label COLUMN] [--json]\n" +
			"       aios predict --model model.aios --data rows.csv [--out predictions.csv] [--probabilities] [--label COLUMN] [--json]",
		new: func() runner { return new(predictCmd) },
	})
}

// predictCmd is `aios predict`.
type predictCmd struct {
	serverFlags
	model, keys, data, out, packing, label string
	probabilities, force, asJSON           bool
}

func (c *predictCmd) declare(fs *flag.FlagSet) {
	c.serverFlags.declare(fs, "", "a client token; without --server the plaintext model runs locally")
	fs.StringVar(&c.model, "model", "", "with --server: the model's name or ID (default: the node's only model); without: a model file")
	fs.StringVar(&c.keys, "keys", "", "with --server: key file, read if it fits the model, else generated and written (mode 0600)")
	fs.StringVar(&c.data, "data", "", "rows to classify: CSV of raw features, one row a line (gzip allowed)")
	fs.StringVar(&c.out, "out", "", "write the predictions to this `file` instead of stdout")
	fs.BoolVar(&c.force, "force", false, "overwrite --out if it exists")
	fs.StringVar(&c.packing, "packing", "batch", "with --server: batch (throughput) or single (latency)")
	fs.BoolVar(&c.probabilities, "probabilities", false, "print softmax probabilities (computed here) instead of logits")
	fs.StringVar(&c.label, "label", "", "the `column` (1-based number, or header name) of a label to leave out; default: the last one when a row has one more column than the model's features")
	jsonFlag(fs, &c.asJSON)
}

// predictions is the output of `aios predict`, the same with and without
// --server so that the two can be compared line by line.
type predictions struct {
	Model       string       `json:"model"`
	Packing     string       `json:"packing"` // "batch" or "single" on a node, "plaintext" locally
	Scores      string       `json:"scores"`  // "logits" or "probabilities"
	Classes     []string     `json:"classes"`
	Predictions []prediction `json:"predictions"`
	// Warnings say where the rows do not look like the model's training
	// data (inference.CheckRanges); they go to stderr as well.
	Warnings []string `json:"warnings,omitempty"`
}

type prediction struct {
	Row    int     `json:"row"` // 1-based, counting data rows only
	Class  string  `json:"class"`
	Scores []score `json:"scores"`
}

// score prints with scoreDigits significant digits, in text and in JSON.
type score float64

// scoreDigits is the precision of printed scores: the encrypted path's
// logits differ from the plaintext model's by CKKS error (below 0.01 on the
// bundled models, see aios eval), so the last printed digit of a score may
// differ between the two; the classes agree.
const scoreDigits = 4

func (s score) String() string { return strconv.FormatFloat(float64(s), 'g', scoreDigits, 64) }

func (s score) MarshalJSON() ([]byte, error) { return []byte(s.String()), nil }

func (c *predictCmd) run(ctx context.Context, e *env) error {
	if err := noArgs(e); err != nil {
		return err
	}
	if c.data == "" || (c.model == "" && c.server == "") {
		return usagef("--data is required, and --model without --server")
	}
	pk, err := inference.ParsePacking(c.packing)
	if err != nil {
		return usagef("--packing %q: want batch or single", c.packing)
	}
	var res *predictions
	var logits [][]float64
	if c.server == "" {
		res, logits, err = c.local(e)
	} else {
		res, logits, err = c.remote(ctx, e, pk)
	}
	if err != nil {
		return err
	}
	res.fill(logits, c.probabilities)
	write := func(w io.Writer) error {
		return report(w, c.asJSON, res, res.printCSV)
	}
	if c.out == "" {
		return write(e.stdout)
	}
	return writeFileWith(c.out, 0o644, c.force, write)
}

// local classifies the rows with the plaintext quantized reference of the
// model file --model.
func (c *predictCmd) local(e *env) (*predictions, [][]float64, error) {
	m, err := inference.ReadFile(c.model)
	if err != nil {
		return nil, nil, err
	}
	rows, err := c.rows(e, m.Features())
	if err != nil {
		return nil, nil, err
	}
	ref, err := inference.NewEvaluator(m)
	if err != nil {
		return nil, nil, err
	}
	logits, err := ref.Predict(rows)
	if err != nil {
		return nil, nil, err
	}
	return &predictions{Model: m.Meta.Name, Packing: "plaintext", Classes: m.Meta.Classes,
		Warnings: checkRows(e, m.Meta.Bounds.Features, rows)}, logits, nil
}

// remote encrypts the rows, has the node classify them batch by batch and
// decrypts the logits.
func (c *predictCmd) remote(ctx context.Context, e *env, pk inference.Packing) (*predictions, [][]float64, error) {
	cl, err := c.client()
	if err != nil {
		return nil, nil, err
	}
	info, err := findModel(ctx, cl, c.model)
	if err != nil {
		return nil, nil, err
	}
	rows, err := c.rows(e, info.Features)
	if err != nil {
		return nil, nil, err
	}
	warnings := checkRows(e, info.FeatureRanges, rows)
	km, key, err := cl.EnsureKeys(ctx, info, pk, c.keys)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(e.stderr, "model %s (%.12s…, %s), %d rows, packing %s, evaluation keys %.12s… (%.1f MB) on the node\n",
		info.Name, info.ID, info.Preset, len(rows), pk, key.ID, float64(key.Bytes)/1e6)
	// One SDK call per encrypted batch (a few single-packing queries), so
	// that the progress bar can show the bytes sent so far.
	chunk := max(info.Packings[pk.String()].MaxSamples, singleRowsPerCall)
	bar := newProgress(e.stderr, len(rows))
	logits := make([][]float64, 0, len(rows))
	var total client.InferStats
	for lo := 0; lo < len(rows); lo += chunk {
		l, st, err := cl.InferSamples(ctx, info, key.ID, km, pk, rows[lo:min(lo+chunk, len(rows))], nil)
		if err != nil {
			bar.done()
			return nil, nil, err
		}
		logits = append(logits, l...)
		total.Samples += st.Samples
		total.Requests += st.Requests
		total.BytesUp += st.BytesUp
		total.BytesDown += st.BytesDown
		bar.update(total.Samples, total.BytesUp)
	}
	bar.done()
	fmt.Fprintf(e.stderr, "%d rows in %d requests: %.1f MB up, %.1f MB down, %.1f s\n",
		total.Samples, total.Requests, float64(total.BytesUp)/1e6, float64(total.BytesDown)/1e6, bar.elapsed().Seconds())
	return &predictions{Model: info.Name, Packing: pk.String(), Classes: info.Classes, Warnings: warnings}, logits, nil
}

// checkRows compares the rows with the model's training ranges before they
// are encrypted and prints a warning for each mismatch it finds.
func checkRows(e *env, ranges []inference.FeatureRange, rows [][]float64) []string {
	w := inference.CheckRanges(ranges, rows).Warnings()
	for _, s := range w {
		fmt.Fprintln(e.stderr, "warning:", s)
	}
	return w
}

// singleRowsPerCall is how many rows of the single packing (one query a
// ciphertext) go to the SDK at a time, which sends them in one request.
const singleRowsPerCall = 16

// findModel returns the node's model whose ID or name is nameOrID (the only
// model when it is empty). An unknown name is an error that lists the
// models the node has.
func findModel(ctx context.Context, cl *client.Client, nameOrID string) (schema.ModelInfo, error) {
	models, err := cl.Models(ctx)
	if err != nil {
		return schema.ModelInfo{}, err
	}
	var have []string
	var found []schema.ModelInfo
	for _, m := range models {
		have = append(have, fmt.Sprintf("%s (%.12s…)", m.Name, m.ID))
		if m.ID == nameOrID || m.Name == nameOrID || (nameOrID == "" && len(models) == 1) {
			found = append(found, m)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(models) == 0:
		return schema.ModelInfo{}, fmt.Errorf("the node has no models")
	case nameOrID == "":
		return schema.ModelInfo{}, usagef("the node has %d models, pick one with --model: %s", len(models), strings.Join(have, ", "))
	case len(found) > 1:
		return schema.ModelInfo{}, fmt.Errorf("%d models are named %q: give the ID (%s)", len(found), nameOrID, strings.Join(have, ", "))
	}
	return schema.ModelInfo{}, fmt.Errorf("the node has no model %q; it has %s", nameOrID, strings.Join(have, ", "))
}

// fill sets one prediction per row of logits: the argmax's class name and
// the scores (softmax probabilities when probabilities is set).
func (p *predictions) fill(logits [][]float64, probabilities bool) {
	p.Scores = "logits"
	if probabilities {
		p.Scores = "probabilities"
	}
	p.Predictions = make([]prediction, len(logits))
	for i, l := range logits {
		s := l
		if probabilities {
			s = softmax(l)
		}
		best := inference.Argmax([][]float64{l})[0]
		pr := prediction{Row: i + 1, Class: strconv.Itoa(best), Scores: make([]score, len(s))}
		if best < len(p.Classes) {
			pr.Class = p.Classes[best]
		}
		for o, v := range s {
			pr.Scores[o] = score(v)
		}
		p.Predictions[i] = pr
	}
}

// softmax returns exp(l_o − max l) / Σ exp(l_k − max l).
func softmax(l []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range l {
		m = max(m, v)
	}
	out := make([]float64, len(l))
	sum := 0.0
	for o, v := range l {
		out[o] = math.Exp(v - m)
		sum += out[o]
	}
	for o := range out {
		out[o] /= sum
	}
	return out
}

// printCSV writes the header row,class,<class names…> and one line a row.
func (p *predictions) printCSV(w io.Writer) error {
	var b strings.Builder
	b.WriteString("row,class")
	for _, c := range p.Classes {
		b.WriteString("," + csvField(c))
	}
	b.WriteByte('\n')
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	for _, pr := range p.Predictions {
		b.Reset()
		fmt.Fprintf(&b, "%d,%s", pr.Row, csvField(pr.Class))
		for _, s := range pr.Scores {
			b.WriteString("," + s.String())
		}
		b.WriteByte('\n')
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
	}
	return nil
}

// csvField quotes a class name that CSV would otherwise split.
func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\n\r") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}
