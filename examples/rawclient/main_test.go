package main

import (
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/aios-edge/aios/api/apitest"
	"github.com/aios-edge/aios/inference"
)

// TestRawClient runs the lattigo-only client against a real node serving the
// bundled digits model and checks its predictions against the plaintext
// quantized model.
func TestRawClient(t *testing.T) {
	file, m, test := apitest.Digits(t)
	url, tok := apitest.Node(t, file)
	samples := test.X[:32]
	ref, _ := inference.NewEvaluator(m)
	logits, _ := ref.Predict(samples)
	want := inference.Argmax(logits)

	got, err := Run(&Node{URL: url, Token: tok}, "", samples)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sample %d: %d, plaintext model %d", i, got[i], want[i])
		}
	}

	// Rows in other units (grey levels times 16) are refused before any
	// key or ciphertext is made.
	scaled := make([][]float64, len(samples))
	for i, x := range samples {
		scaled[i] = make([]float64, len(x))
		for j, v := range x {
			scaled[i][j] = 16 * v
		}
	}
	if _, err := Run(&Node{URL: url, Token: tok}, "", scaled); err == nil || !strings.Contains(err.Error(), "other units") {
		t.Errorf("samples ×16: %v, want a refusal naming other units", err)
	}
}

// TestQuotesAreTheDocuments checks that every rule this client quotes
// (between “ and ” in its comments) is in the OpenAPI document or README.md
// word for word, up to white space and code marks, so the client's comments
// cannot drift from the document it claims to follow.
func TestQuotesAreTheDocuments(t *testing.T) {
	normal := func(s string) string {
		return strings.Join(strings.Fields(strings.ReplaceAll(s, "`", "")), " ")
	}
	var doc strings.Builder
	for _, p := range []string{"../../api/openapi.yaml", "../../README.md"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		doc.WriteString(normal(string(b)) + "\n")
	}
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	quote := regexp.MustCompile(`“([^”]*)”`)
	n := 0
	for _, g := range f.Comments {
		for _, q := range quote.FindAllStringSubmatch(g.Text(), -1) {
			n++
			if !strings.Contains(doc.String(), normal(q[1])) {
				t.Errorf("quoted but not in the document: %q", normal(q[1]))
			}
		}
	}
	if n < 10 {
		t.Errorf("%d quotes in main.go, want the rules it follows quoted (at least 10)", n)
	}
}
