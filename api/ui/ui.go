// Package ui is the auditor's console: a static web page, embedded in the
// binary and served by the node at /ui/, that reads the node's API with an
// auditor (or admin) token and checks the node instead of trusting it.
//
// The page shows the privacy budgets (spent, remaining, releases, a chart
// of cumulative spend, the releases in a paged table), the MPC sessions
// that released through the ledger, federations, and the node's health
// and request metrics. It fetches the audit export (GET /v1/audit/export)
// and verifies it itself with the browser's WebCrypto: the SHA-256 hash
// chain over each entry's canonical encoding and the Ed25519 checkpoint
// signatures against a node public key that the auditor pins, the same
// algorithm as dp.Verify (static/verify.js follows it step by step). A
// node that lies to its own page is caught by the page.
//
// The token and the pinned key may be given in the URL fragment
// (/ui/#token=…&key=…), which the browser never sends to the server. There
// is no build step: the files under static/ are served as they are, and
// the page loads nothing from elsewhere (its Content-Security-Policy
// allows only the node's own origin).
package ui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var files embed.FS

// csp lets the page load only its own scripts and styles and talk only to
// its own origin; no inline script, no frame.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the console's files; mount it with the prefix stripped
// (the request path "/" is index.html).
func Handler() http.Handler {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	fileServer := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
}
