package api

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/dp"
	"github.com/aios-edge/aios/internal/nodekey"
	"github.com/aios-edge/aios/mpc"
)

// The console's tests drive headless Chromium against real nodes. They
// skip where no browser is installed. Screenshots go to the directory in
// AIOS_UI_SCREENSHOTS, or to the test's temporary directory.

// uiBrowser is one headless Chromium tab with the console messages it
// has seen.
type uiBrowser struct {
	t       testing.TB
	ctx     context.Context
	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

func newUIBrowser(t testing.TB) *uiBrowser {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Skip("no chromium, chromium-browser or google-chrome on PATH: the console's browser tests need one (Debian: apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.DisableGPU, chromedp.WindowSize(1280, 900))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to sandbox as root
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	b := &uiBrowser{t: t, ctx: ctx}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	return b
}

// open loads url and waits until the console has loaded everything and
// verified the export.
func (b *uiBrowser) open(url string) uiPage {
	b.t.Helper()
	// From a blank page: a URL that differs from the current one only in
	// its fragment would not load the page again.
	if err := chromedp.Do(b.ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(url)); err != nil {
		b.t.Fatalf("navigate: %v", err)
	}
	return b.waitLoaded()
}

func (b *uiBrowser) waitLoaded() uiPage {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`document.body.dataset.loaded === "1"`, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		b.t.Fatalf("the console did not finish loading: %v", err)
	}
	p, err := chromedp.Run(b.ctx, chromedp.Evaluate[uiPage](uiPageScript))
	if err != nil {
		b.t.Fatalf("read the page: %v", err)
	}
	if p.Error != "" {
		b.t.Fatalf("the console reports an error: %s", p.Error)
	}
	return p
}

// screenshot saves the whole page as name.png.
func (b *uiBrowser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("AIOS_UI_SCREENSHOTS")
	if dir == "" {
		dir = b.t.TempDir()
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	file := filepath.Join(dir, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s (%d bytes)", file, len(png))
}

func (b *uiBrowser) messages() []chromedp.ConsoleMessage {
	time.Sleep(100 * time.Millisecond) // let the messages of the last action arrive
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.console)
}

// forget drops the console messages from index from on that contain
// expected: errors that a step provokes on purpose.
func (b *uiBrowser) forget(from int, expected string) {
	b.messages()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.console = append(b.console[:from:from], slices.DeleteFunc(b.console[from:], func(m chromedp.ConsoleMessage) bool {
		return strings.Contains(m.Text, expected)
	})...)
}

// noConsoleErrors fails on any error or uncaught exception the pages
// wrote to the console.
func (b *uiBrowser) noConsoleErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		if m.Type == chromedp.ConsoleError || m.IsException() {
			b.t.Errorf("console %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line)
		}
	}
}

// uiPage is what the console shows, read from its DOM by uiPageScript.
type uiPage struct {
	State          string     `json:"state"`
	Text           string     `json:"text"`
	Verified       int64      `json:"verified"`
	Signed         int64      `json:"signed"`
	FailSeq        int64      `json:"failSeq"`
	FailCheckpoint int        `json:"failCheckpoint"`
	FailBudget     string     `json:"failBudget"`
	Pinned         int64      `json:"pinned"`
	Budgets        []uiBudget `json:"budgets"`
	Sessions       []struct {
		ID       string `json:"id"`
		State    string `json:"state"`
		Included string `json:"included"`
		Excluded string `json:"excluded"`
		Release  string `json:"release"`
	} `json:"sessions"`
	Node        map[string]string `json:"node"`
	Hash        string            `json:"hash"`
	ScrollWidth int               `json:"scrollWidth"`
	InnerWidth  int               `json:"innerWidth"`
	Error       string            `json:"error"`
}

type uiBudget struct {
	Name   string            `json:"name"`
	Fields map[string]string `json:"fields"`
	Check  string            `json:"check"`
	Rows   []int64           `json:"rows"`
	Values []string          `json:"values"`
	Pager  string            `json:"pager"`
}

const uiPageScript = `(() => {
  const r = document.getElementById("verify-result");
  const fields = (root) => Object.fromEntries([...root.querySelectorAll("[data-field]")].map((d) => [d.dataset.field, d.textContent]));
  return {
    state: r.dataset.state, text: r.textContent,
    verified: Number(r.dataset.verified || 0), signed: Number(r.dataset.signed || 0),
    failSeq: Number(r.dataset.failSeq || 0), failCheckpoint: Number(r.dataset.failCheckpoint || 0), failBudget: r.dataset.failBudget || "",
    pinned: Number(document.getElementById("verify-pin")?.dataset.pinned || 0),
    budgets: [...document.querySelectorAll("[data-budget]")].map((c) => ({
      name: c.dataset.budget, fields: fields(c.querySelector(".facts")), check: c.querySelector("[data-check]").dataset.check,
      rows: [...c.querySelectorAll("tr[data-seq]")].map((tr) => Number(tr.dataset.seq)),
      values: [...c.querySelectorAll("tr[data-seq]")].map((tr) => tr.lastChild.textContent),
      pager: c.querySelector(".pageno").textContent,
    })),
    sessions: [...document.querySelectorAll("tr[data-session]")].map((tr) => ({
      id: tr.dataset.session, state: tr.dataset.state || "",
      included: tr.querySelector("[data-field=included]")?.textContent || "",
      excluded: tr.querySelector("[data-field=excluded]")?.textContent || "",
      release: tr.lastChild.textContent,
    })),
    node: { ...fields(document.getElementById("node-info")), ...fields(document.getElementById("node-rates")) },
    hash: location.hash, scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
    error: document.body.dataset.error || "",
  };
})()`

// consoleNode is a coordinator of a finished MPC session (one dealer
// excluded for a bad share) with two more budgets: "clinic" (pure ε, a
// dozen releases, checkpoints between them) and "fed" (ε, δ), whose
// entries are of version 3.
func consoleNode(t *testing.T) (*mpcNode, *schema.MPCSessionStatus) {
	t.Helper()
	nodes := newMPCCluster(t, 3, map[int]bool{2: true}, nil)
	st := runHTTPSession(t, nodes, randVectors(3, 4, 11), 2)
	if st.State != "done" || len(st.Excluded) != 1 {
		t.Fatalf("session %s (%s), excluded %+v", st.State, st.Error, st.Excluded)
	}
	n := nodes[0]
	ctx := context.Background()
	if code := n.json("POST", "/v1/budgets", "admin", map[string]string{"name": "clinic", "epsilon": "2", "description": "ward statistics"}, nil); code != 201 {
		t.Fatalf("budget: %d", code)
	}
	fed, err := dp.NewBudgetFromLiteral(dp.BudgetLiteral{Name: "fed", Total: 8 * dp.MicroPerEpsilon, Delta: 10_000_000, Description: "(ε, δ)"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.srv.Ledger().CreateBudget(ctx, fed, "operator"); err != nil {
		t.Fatal(err)
	}
	release := func(budget string, eps dp.MicroEpsilon, i int) {
		m, err := dp.NewLaplaceFromLiteral(dp.LaplaceLiteral{Epsilon: eps, Lower: 0, Upper: 1, FracBits: 16})
		if err != nil {
			t.Fatal(err)
		}
		q, err := m.Query(0.25 * float64(i%4))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.srv.Ledger().Release(ctx, dp.ReleaseRequest{Budget: budget, Query: q, Requester: fmt.Sprintf("analyst-%d", i%3),
			Purpose: "weekly count", IdempotencyKey: fmt.Sprintf("%s-%02d", budget, i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 12 {
		release("clinic", dp.MicroEpsilon(50_000+10_000*i), i)
		if i%5 == 4 {
			if code := n.json("GET", "/v1/audit/checkpoint", "auditor", nil, nil); code != 200 {
				t.Fatalf("checkpoint: %d", code)
			}
		}
	}
	release("fed", 200_000, 0)
	release("fed", 300_000, 1)
	return n, st
}

// consoleURL opens the console on base signed in as the auditor with the
// node's key pinned.
func consoleURL(base string, n *mpcNode) string {
	return base + "/ui/#token=" + n.tokens[RoleAuditor] + "&key=" + n.srv.NodeID()
}

// TestConsole drives the console in Chromium against a node with budgets,
// releases and a finished MPC session: the numbers on the page are the
// API's, the page verifies the export itself, tampered exports fail at the
// entry or checkpoint that was changed (as the Go verifier says), a
// rollback below the checkpoint pinned on the last visit is caught, the
// page fits a phone's width, and no page writes an error to the console.
func TestConsole(t *testing.T) {
	b := newUIBrowser(t)
	n, session := consoleNode(t)
	pub := nodekey.PublicKey(n.id)

	p := b.open(consoleURL(n.ts.URL, n))
	resp, export := n.do("GET", "/v1/audit/export", n.tokens[RoleAuditor], nil)
	if resp.StatusCode != 200 {
		t.Fatalf("export: %d", resp.StatusCode)
	}
	rep, err := dp.VerifyExport(bytes.NewReader(export), pub)
	if err != nil {
		t.Fatal(err)
	}
	if p.State != "ok" || p.Verified != rep.Entries || p.Signed != rep.SignedEntries {
		t.Errorf("page says %s %q (verified %d, signed %d); Go verifies %d entries, %d signed", p.State, p.Text, p.Verified, p.Signed, rep.Entries, rep.SignedEntries)
	}
	if p.Hash != "" {
		t.Errorf("the token stays in the address bar: %q", p.Hash)
	}
	checkBudgets(t, n, p)
	checkSession(t, p, session)
	if p.Node["key"] != "the key you pinned" || p.Node["version"] != n.srv.cfg.Version || !strings.HasPrefix(p.Node["accel"], n.srv.cfg.Accel.Name()) {
		t.Errorf("node facts: %v", p.Node)
	}
	b.screenshot("console")

	// Paging: the second page of clinic's releases holds the two oldest.
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(() => { const c = document.querySelector('[data-budget="clinic"]'); c.querySelector(".pager button:last-child").click(); return true; })()`)); err != nil {
		t.Fatal(err)
	}
	second, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]int64](`[...document.querySelectorAll('[data-budget="clinic"] tr[data-seq]')].map((tr) => Number(tr.dataset.seq))`))
	if err != nil {
		t.Fatal(err)
	}
	clinic := spendSeqs(t, n, "clinic")
	if !slices.Equal(second, []int64{clinic[1], clinic[0]}) {
		t.Errorf("second page of clinic's releases: seqs %v, want %v", second, []int64{clinic[1], clinic[0]})
	}

	// At a phone's width nothing is wider than the screen.
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	if p := b.waitLoaded(); p.ScrollWidth > p.InnerWidth {
		t.Errorf("at phone width the page is %d px wide, the screen %d", p.ScrollWidth, p.InnerWidth)
	}
	b.screenshot("console-phone")
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}

	testSignIn(t, b, n)
	testTamperedExports(t, b, n, export)
	b.noConsoleErrors()
}

// testSignIn signs out, is refused with a client's token (the browser logs
// the 403, which is expected here), and signs in through the form.
func testSignIn(t *testing.T, b *uiBrowser, n *mpcNode) {
	t.Helper()
	visible := func() bool {
		t.Helper()
		v, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`!document.getElementById("signin").hidden && document.getElementById("console").hidden`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(document.getElementById("signout").click(), true)`)); err != nil {
		t.Fatal(err)
	}
	if !visible() {
		t.Fatal("signing out does not show the sign-in form")
	}
	submit := func(token string) {
		t.Helper()
		js := fmt.Sprintf(`(document.body.dataset.loaded = "", document.getElementById("signin-token").value = %q,
			document.getElementById("signin-form").requestSubmit(), true)`, token)
		if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js)); err != nil {
			t.Fatal(err)
		}
	}
	before := len(b.messages())
	submit(n.tokens[RoleClient])
	msg, err := chromedp.Run(b.ctx, chromedp.Poll[string](`!document.getElementById("signin-error").hidden && document.getElementById("signin-error").textContent`))
	if err != nil || !strings.Contains(msg, "refused the token") || !visible() {
		t.Fatalf("a client's token: %q %v", msg, err)
	}
	b.forget(before, "status of 403")
	submit(n.tokens[RoleAuditor])
	if p := b.waitLoaded(); p.State != "ok" || len(p.Budgets) != 3 {
		t.Errorf("after signing in with the form: %s %q, %d budgets", p.State, p.Text, len(p.Budgets))
	}
}

// checkBudgets compares each budget card with GET /v1/budgets and the
// budget's ledger.
func checkBudgets(t *testing.T, n *mpcNode, p uiPage) {
	t.Helper()
	var list struct {
		Budgets []dp.BudgetStatus `json:"budgets"`
	}
	if code := n.json("GET", "/v1/budgets", "auditor", nil, &list); code != 200 || len(list.Budgets) != 3 {
		t.Fatalf("budgets: %d %+v", code, list)
	}
	if len(p.Budgets) != len(list.Budgets) {
		t.Fatalf("page shows %d budgets, the API %d", len(p.Budgets), len(list.Budgets))
	}
	for i, want := range list.Budgets {
		got := p.Budgets[i]
		if got.Name != want.Name || got.Fields["spent"] != want.Spent.String() || got.Fields["total"] != want.Total.String() ||
			got.Fields["remaining"] != want.Remaining.String() || got.Fields["releases"] != strconv.FormatInt(want.Releases, 10) {
			t.Errorf("budget card %+v, API %+v", got, want)
		}
		if got.Check != "ok" {
			t.Errorf("budget %s: the page does not find the API's figures in the verified chain (%q)", got.Name, got.Check)
		}
		seqs := spendSeqs(t, n, want.Name)
		slices.Reverse(seqs)
		if newest := seqs[:min(len(seqs), 10)]; !slices.Equal(got.Rows, newest) {
			t.Errorf("budget %s: release rows %v, want the newest %v", got.Name, got.Rows, newest)
		}
		if wantPager := fmt.Sprintf("page 1 of %d (%d releases)", (len(seqs)+9)/10, len(seqs)); got.Pager != wantPager {
			t.Errorf("budget %s: pager %q, want %q", got.Name, got.Pager, wantPager)
		}
	}
	if d := p.Budgets[slices.IndexFunc(p.Budgets, func(b uiBudget) bool { return b.Name == "fed" })].Fields["delta"]; d != "1e-05" {
		t.Errorf("fed's δ shown as %q, want 1e-05", d)
	}
}

// spendSeqs is the seqs of a budget's spends, oldest first, from the API.
func spendSeqs(t *testing.T, n *mpcNode, budget string) []int64 {
	t.Helper()
	var l struct {
		Entries []dp.Entry `json:"entries"`
	}
	if code := n.json("GET", "/v1/budgets/"+budget+"/ledger", "auditor", nil, &l); code != 200 {
		t.Fatalf("ledger: %d", code)
	}
	var seqs []int64
	for _, e := range l.Entries {
		if e.Kind == dp.KindSpend {
			seqs = append(seqs, e.Seq)
		}
	}
	return seqs
}

// checkSession compares the session row with the session's status, and
// the release value in the mpc budget's table with its release.
func checkSession(t *testing.T, p uiPage, st *schema.MPCSessionStatus) {
	t.Helper()
	if len(p.Sessions) != 1 {
		t.Fatalf("page lists sessions %+v, want the one that released", p.Sessions)
	}
	s := p.Sessions[0]
	if s.ID != st.ID || s.State != st.State || s.Included != strconv.Itoa(len(st.Included)) ||
		!strings.Contains(s.Excluded, mpc.ReasonBadShare) || !strings.Contains(s.Excluded, "cheating") {
		t.Errorf("session row %+v, status %+v", s, st)
	}
	if st.Release == nil || s.Release == "" || s.Release == "—" {
		t.Fatalf("release shown as %q (status %+v)", s.Release, st.Release)
	}
	if got, want := strings.Count(s.Release, ",")+1, len(st.Release.Values); got != want {
		t.Errorf("release shows %d values, the session released %d", got, want)
	}
	mpcCard := p.Budgets[slices.IndexFunc(p.Budgets, func(b uiBudget) bool { return b.Name == "mpc" })]
	if len(mpcCard.Values) != 1 || mpcCard.Values[0] != s.Release {
		t.Errorf("the mpc budget's release row shows %q, the session %q", mpcCard.Values, s.Release)
	}
}

// testTamperedExports serves tampered copies of export from a node that
// lies only about its export, and checks that the page fails where the Go
// verifier does, at the entry or checkpoint that was changed.
func testTamperedExports(t *testing.T, b *uiBrowser, n *mpcNode, export []byte) {
	var serve, budgets atomic.Pointer[[]byte]
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if doc := serve.Load(); doc != nil && r.URL.Path == "/v1/audit/export" {
			w.Header().Set("Content-Type", "application/json")
			w.Write(*doc)
			return
		}
		if list := budgets.Load(); list != nil && r.URL.Path == "/v1/budgets" {
			w.Header().Set("Content-Type", "application/json")
			w.Write(*list)
			return
		}
		n.srv.Handler().ServeHTTP(w, r)
	}))
	defer liar.Close()
	pub := nodekey.PublicKey(n.id)
	var pin *dp.Pin
	check := func(name string, doc []byte, wantSeq int64, wantCheckpoint int, wantReason string) {
		t.Helper()
		serve.Store(&doc)
		p := b.open(consoleURL(liar.URL, n))
		_, err := dp.VerifyExport(bytes.NewReader(doc), pub, pin)
		var ae *dp.AuditError
		if !errors.As(err, &ae) {
			t.Fatalf("%s: the Go verifier says %v", name, err)
		}
		if ae.Seq != wantSeq || ae.Checkpoint != wantCheckpoint || !strings.Contains(ae.Reason, wantReason) {
			t.Fatalf("%s: the Go verifier fails with %v, want entry %d checkpoint %d %q", name, err, wantSeq, wantCheckpoint, wantReason)
		}
		if p.State != "fail" || p.FailSeq != wantSeq || p.FailCheckpoint != wantCheckpoint || !strings.Contains(p.Text, ae.Reason) {
			t.Errorf("%s: page says %s %q (entry %d, checkpoint %d); want a failure at entry %d checkpoint %d: %s",
				name, p.State, p.Text, p.FailSeq, p.FailCheckpoint, wantSeq, wantCheckpoint, ae.Reason)
		}
		b.screenshot("console-" + name)
	}
	spend := spendSeqs(t, n, "clinic")[3] // a spend in the middle of the chain
	check("epsilon-edited", editExport(t, export, func(d map[string]any) {
		e := entriesOf(d)[spend-1]
		e["epsilon_micro"] = json.Number(strconv.FormatInt(jsonInt(t, e["epsilon_micro"])+1, 10))
	}), spend, 0, "hash does not match the entry's contents")
	check("entry-deleted", editExport(t, export, func(d map[string]any) {
		es := d["entries"].([]any)
		d["entries"] = slices.Delete(es, int(spend-1), int(spend))
	}), spend, 0, fmt.Sprintf("entry missing or out of order (found seq %d)", spend+1))
	check("signature-flipped", editExport(t, export, func(d map[string]any) {
		cp := d["checkpoints"].([]any)[1].(map[string]any)
		sig := []byte(cp["signature"].(string))
		if sig[10] == '0' {
			sig[10] = '1'
		} else {
			sig[10] = '0'
		}
		cp["signature"] = string(sig)
	}), 0, 2, "bad signature")

	// A node whose budget list understates what clinic spent, with an
	// honest export: the export verifies, and the card says that the API's
	// figures are not the chain's.
	serve.Store(nil)
	_, list := n.do("GET", "/v1/budgets", n.tokens[RoleAuditor], nil)
	lie := bytes.Replace(list, []byte(`"spent_micro_epsilon": 1260000`), []byte(`"spent_micro_epsilon": 260000`), 1)
	if bytes.Equal(lie, list) {
		t.Fatalf("clinic's spent ε is not 1.26 in %s", list)
	}
	budgets.Store(&lie)
	p := b.open(consoleURL(liar.URL, n))
	for _, c := range p.Budgets {
		if want := map[bool]string{true: "differs", false: "ok"}[c.Name == "clinic"]; c.Check != want {
			t.Errorf("budget %s with the understated list: check %q, want %q", c.Name, c.Check, want)
		}
	}
	if p.State != "ok" {
		t.Errorf("honest export, lying budget list: verification %s %q", p.State, p.Text)
	}
	budgets.Store(nil)

	// An honest visit pins the signed head; a later export that lost
	// entries below it is a rollback.
	p = b.open(consoleURL(liar.URL, n))
	if p.State != "ok" {
		t.Fatalf("honest export through the proxy: %s %q", p.State, p.Text)
	}
	rep, err := dp.VerifyExport(bytes.NewReader(export), pub)
	if err != nil {
		t.Fatal(err)
	}
	pin = rep.Pin()
	keep := pin.EntryCount - 3
	check("rolled-back", editExport(t, export, func(d map[string]any) {
		d["entries"] = d["entries"].([]any)[:keep]
		var cps []any
		for _, c := range d["checkpoints"].([]any) {
			if jsonInt(t, c.(map[string]any)["entry_count"]) <= keep {
				cps = append(cps, c)
			}
		}
		d["checkpoints"] = cps
	}), 0, 0, fmt.Sprintf("pinned checkpoint covers %d entries, the chain has %d (entries were removed)", pin.EntryCount, keep))
}

// editExport decodes an export generically (numbers kept exact), lets
// edit change it, and encodes it again.
func editExport(t *testing.T, export []byte, edit func(map[string]any)) []byte {
	t.Helper()
	var d map[string]any
	dec := json.NewDecoder(bytes.NewReader(export))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		t.Fatal(err)
	}
	edit(d)
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func entriesOf(d map[string]any) []map[string]any {
	var out []map[string]any
	for _, e := range d["entries"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

func jsonInt(t *testing.T, v any) int64 {
	t.Helper()
	n, err := v.(json.Number).Int64()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestConsoleVerifierMatchesGo runs the page's verifier (verify.js, in
// Chromium) and dp.VerifyExport on hundreds of altered exports, every field
// of every entry changed, removed or nulled and the document's structure
// broken in each way, and requires the same verdict: both accept with the
// same report, both reject the document as malformed, or both fail at the
// same entry, checkpoint or budget for the same reason. The exports are a
// node's (entries of versions 2 and 3, several checkpoints) and the legacy
// version-1 export of the dp tests.
func TestConsoleVerifierMatchesGo(t *testing.T) {
	b := newUIBrowser(t)
	n := newTestNode(t, Config{})
	ctx := context.Background()
	l := n.srv.Ledger()
	for _, lit := range []dp.BudgetLiteral{{Name: "pure", Total: 2 * dp.MicroPerEpsilon}, {Name: "fed", Total: 8 * dp.MicroPerEpsilon, Delta: 10_000_000}} {
		bud, err := dp.NewBudgetFromLiteral(lit)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.CreateBudget(ctx, bud, "operator"); err != nil {
			t.Fatal(err)
		}
	}
	for i, budget := range []string{"pure", "fed", "pure", "fed", "pure"} {
		m, err := dp.NewLaplaceFromLiteral(dp.LaplaceLiteral{Epsilon: dp.MicroEpsilon(100_000 * (i + 1)), Lower: -1, Upper: 1, FracBits: 16})
		if err != nil {
			t.Fatal(err)
		}
		q, err := m.Query(0.5)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Release(ctx, dp.ReleaseRequest{Budget: budget, Query: q, Requester: "r", Purpose: "p"}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			if _, err := l.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, export := n.do("GET", "/v1/audit/export", n.tokens[RoleAuditor], nil)
	legacy, err := os.ReadFile(filepath.Join("..", "dp", "testdata", "audit-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(b.ctx, chromedp.Navigate(n.ts.URL+"/ui/")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`typeof window.aiosVerify === "function"`)); err != nil {
		t.Fatal(err)
	}
	var counts [3]int // accepted, malformed, failed
	for _, base := range [][]byte{export, legacy} {
		var head struct {
			NodeID string `json:"node_id"`
		}
		if err := json.Unmarshal(base, &head); err != nil {
			t.Fatal(err)
		}
		pub, err := nodekey.ParsePublicKey(head.NodeID)
		if err != nil {
			t.Fatal(err)
		}
		docs := exportVariants(t, base)
		for start := 0; start < len(docs); start += 64 {
			batch := docs[start:min(len(docs), start+64)]
			texts := make([]string, len(batch))
			for i, d := range batch {
				texts[i] = string(d.doc)
			}
			arg, _ := json.Marshal(texts)
			got, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]verdict](fmt.Sprintf(jsVerdicts, arg, head.NodeID), chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range batch {
				want := goVerdict(d.doc, pub)
				if got[i] != want {
					t.Errorf("%s: the page says %+v, Go %+v", d.name, got[i], want)
				}
				switch {
				case want.OK:
					counts[0]++
				case want.Malformed:
					counts[1]++
				default:
					counts[2]++
				}
			}
		}
	}
	t.Logf("%d variants: %d accepted, %d malformed, %d failed verification, with the same verdict in the page and in Go",
		counts[0]+counts[1]+counts[2], counts[0], counts[1], counts[2])
	if counts[0] < 3 || counts[1] < 50 || counts[2] < 200 {
		t.Errorf("too few variants of each kind: %v", counts)
	}
	b.noConsoleErrors()
}

// verdict is a verification's outcome as both verifiers are compared on it.
type verdict struct {
	OK         bool   `json:"ok"`
	Malformed  bool   `json:"malformed"` // not a valid document (no reason compared)
	Seq        int64  `json:"seq"`
	Checkpoint int    `json:"checkpoint"`
	Budget     string `json:"budget"`
	Reason     string `json:"reason"`
	Entries    int64  `json:"entries"`
	Signed     int64  `json:"signed"`
	Releases   int64  `json:"releases"`
	Legacy     int64  `json:"legacy"`
	Head       string `json:"head"`
}

const jsVerdicts = `Promise.all(%s.map(async (text) => {
  const r = await window.aiosVerify(text, %q);
  if (r.report) return { ok: true, malformed: false, seq: 0, checkpoint: 0, budget: "", reason: "",
    entries: r.report.entries, signed: r.report.signed_entries, releases: r.report.releases, legacy: r.report.legacy_entries, head: r.report.head_hash };
  const e = r.error;
  return { ok: false, malformed: e.decode, seq: e.decode ? 0 : e.seq, checkpoint: e.decode ? 0 : e.checkpoint, budget: e.decode ? "" : e.budget,
    reason: e.decode ? "" : e.reason, entries: 0, signed: 0, releases: 0, legacy: 0, head: "" };
}))`

func goVerdict(doc []byte, pub nodekey.PublicKey) verdict {
	rep, err := dp.VerifyExport(bytes.NewReader(doc), pub)
	var ae *dp.AuditError
	switch {
	case err == nil:
		return verdict{OK: true, Entries: rep.Entries, Signed: rep.SignedEntries, Releases: rep.Releases, Legacy: rep.LegacyEntries, Head: rep.HeadHash.String()}
	case errors.As(err, &ae):
		return verdict{Seq: ae.Seq, Checkpoint: ae.Checkpoint, Budget: ae.Budget, Reason: ae.Reason}
	case errors.Is(err, dp.ErrInvalidExport):
		return verdict{Malformed: true}
	}
	return verdict{Reason: "unexpected: " + err.Error()}
}

type exportVariant struct {
	name string
	doc  []byte
}

// exportVariants returns base unchanged and altered in every way listed
// here: each field of each entry, checkpoint and budget row changed,
// removed, nulled or given a value of the wrong type, fields added, and
// entries and checkpoints removed, swapped and repeated.
func exportVariants(t *testing.T, base []byte) []exportVariant {
	t.Helper()
	out := []exportVariant{{"unchanged", base}}
	add := func(name string, edit func(map[string]any)) {
		out = append(out, exportVariant{name, editExport(t, base, edit)})
	}
	d0 := editExport(t, base, func(map[string]any) {})
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(d0))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	v3 := []string{"delta_pico", "log_inv_delta_micro", "rdp_orders_milli", "noise_multiplier_micro", "sample_rate_ppb", "steps", "noise_shares", "rdp_micro"}
	objects := map[string]int{"entries": len(doc["entries"].([]any)), "checkpoints": len(doc["checkpoints"].([]any)), "budgets": len(doc["budgets"].([]any))}
	for _, list := range slices.Sorted(maps.Keys(objects)) {
		for i := range objects[list] {
			obj := doc[list].([]any)[i].(map[string]any)
			fields := slices.Sorted(maps.Keys(obj))
			if list == "entries" {
				fields = append(fields, "release_commitment", "version")
				fields = append(fields, v3...)
			}
			for _, f := range slices.Compact(slices.Sorted(slices.Values(fields))) {
				at := func(d map[string]any) map[string]any { return d[list].([]any)[i].(map[string]any) }
				name := fmt.Sprintf("%s[%d].%s", list, i, f)
				for _, m := range valueMutations(obj[f]) {
					add(name+" "+m.name, func(d map[string]any) { at(d)[f] = m.value })
				}
				if _, ok := obj[f]; ok {
					add(name+" removed", func(d map[string]any) { delete(at(d), f) })
					add(name+" null", func(d map[string]any) { at(d)[f] = nil })
					add(name+" in upper case", func(d map[string]any) { v := at(d)[f]; delete(at(d), f); at(d)[strings.ToUpper(f)] = v })
				}
			}
			add(fmt.Sprintf("%s[%d] unknown field", list, i), func(d map[string]any) { d[list].([]any)[i].(map[string]any)["extra"] = 1 })
			add(fmt.Sprintf("%s[%d] removed", list, i), func(d map[string]any) { d[list] = slices.Delete(slices.Clone(d[list].([]any)), i, i+1) })
			add(fmt.Sprintf("%s[%d] repeated", list, i), func(d map[string]any) { d[list] = slices.Insert(slices.Clone(d[list].([]any)), i, d[list].([]any)[i]) })
			if i > 0 {
				add(fmt.Sprintf("%s[%d] swapped with the one before", list, i), func(d map[string]any) {
					l := d[list].([]any)
					l[i-1], l[i] = l[i], l[i-1]
				})
			}
			add(fmt.Sprintf("%s[%d] null", list, i), func(d map[string]any) { d[list].([]any)[i] = nil })
		}
		add(list+" null", func(d map[string]any) { d[list] = nil })
		add(list+" empty", func(d map[string]any) { d[list] = []any{} })
		add(list+" not an array", func(d map[string]any) { d[list] = "x" })
	}
	for _, f := range []string{"format", "node_id", "exported_at"} {
		add(f+" changed", func(d map[string]any) { d[f] = d[f].(string) + "0" })
		add(f+" removed", func(d map[string]any) { delete(d, f) })
	}
	add("unknown top-level field", func(d map[string]any) { d["extra"] = true })
	out = append(out, exportVariant{"trailing data", append(slices.Clone(base), []byte(" {}")...)},
		exportVariant{"not JSON", []byte("{")}, exportVariant{"empty", nil})
	return out
}

type namedValue struct {
	name  string
	value any
}

// valueMutations are the changed values tried for a field's value v (nil
// when the field is absent: values of each type are added).
func valueMutations(v any) []namedValue {
	switch v := v.(type) {
	case json.Number:
		n, _ := v.Int64()
		return []namedValue{{"+1", json.Number(strconv.FormatInt(n+1, 10))}, {"-1", json.Number(strconv.FormatInt(n-1, 10))},
			{"zero", json.Number("0")}, {"negated", json.Number(strconv.FormatInt(-n, 10))},
			{"beyond int64", json.Number("9223372036854775808")}, {"fractional", json.Number(string(v) + ".5")},
			{"exponent", json.Number("1e3")}, {"a string", string(v)}}
	case string:
		out := []namedValue{{"appended", v + "x"}, {"emptied", ""}, {"a number", json.Number("1")}}
		if len(v) >= 2 && strings.Trim(v, "0123456789abcdef") == "" {
			flip := []byte(v)
			flip[len(flip)-1] ^= 1 // another hex digit ('0'↔'1', 'a'↔'`' is not hex: skip)
			if strings.ContainsRune("0123456789abcdef", rune(flip[len(flip)-1])) {
				out = append(out, namedValue{"a hex digit changed", string(flip)})
			}
			out = append(out, namedValue{"in upper case", strings.ToUpper(v)}, namedValue{"one byte shorter", v[:len(v)-2]})
		}
		return out
	case []any:
		out := []namedValue{{"one more element", append(slices.Clone(v), json.Number("1"))}, {"a string", "1"}}
		if len(v) > 0 {
			out = append(out, namedValue{"last element removed", slices.Clone(v[:len(v)-1])},
				namedValue{"first element +1", append([]any{json.Number(strconv.FormatInt(mustInt64(v[0])+1, 10))}, v[1:]...)})
		}
		return out
	case nil:
		return []namedValue{{"added as 1", json.Number("1")}, {"added as [1001]", []any{json.Number("1001")}},
			{"added as a 32-byte hex string", strings.Repeat("ab", 32)}}
	}
	return nil
}

func mustInt64(v any) int64 {
	n, _ := v.(json.Number).Int64()
	return n
}

// syntheticExport is an export of one budget and n-1 releases (entries of
// version 2) with one checkpoint signed by a fresh key over the whole chain.
func syntheticExport(tb testing.TB, n int) ([]byte, nodekey.PublicKey) {
	tb.Helper()
	key, err := nodekey.Generate(crand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	doc := &dp.AuditDocument{Format: dp.ExportFormat, NodeID: key.ID(), ExportedAt: time.Unix(1_800_000_000, 0).UTC()}
	var prev dp.Hash
	t0 := int64(1_800_000_000_000_000)
	for i := range n {
		e := dp.Entry{Seq: int64(i + 1), Version: dp.EntryV2, Kind: dp.KindSpend, Budget: "b", Epsilon: 1, Mechanism: "laplace",
			L0: 1, LInf: 1, FracBits: 16, Upper: 65536, Requester: "token:abc", Purpose: "bench", Time: t0 + int64(i)*1000,
			IdempotencyKey: fmt.Sprintf("k-%d", i), ReleaseCommitment: make(dp.HexBytes, 32), PrevHash: prev}
		if i == 0 {
			e.Kind, e.Epsilon, e.Mechanism, e.L0, e.LInf, e.FracBits, e.Upper, e.ReleaseCommitment = dp.KindBudget, dp.MaxEpsilon, "", 0, 0, 0, 0, nil
		}
		crand.Read(e.ReleaseCommitment)
		e.Hash = e.ChainHash()
		prev = e.Hash
		doc.Entries = append(doc.Entries, e)
	}
	cp := dp.Checkpoint{EntryCount: int64(n), HeadHash: prev, Time: t0 + int64(n)*1000}
	if cp.Signature, err = key.Sign(cp.Message(key.Public())); err != nil {
		tb.Fatal(err)
	}
	doc.Checkpoints = []dp.Checkpoint{cp}
	doc.Budgets = []dp.BudgetTotals{{Name: "b", Total: dp.MaxEpsilon, Spent: dp.MicroEpsilon(n - 1)}}
	var buf bytes.Buffer
	if err := dp.WriteExport(&buf, doc); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes(), key.Public()
}

// BenchmarkConsoleVerify verifies a 10 000-entry export in the page
// (verify.js in Chromium: decoding, SHA-256 chain and Ed25519 with
// WebCrypto) against the Go verifier on the same document as the baseline.
func BenchmarkConsoleVerify(b *testing.B) {
	const entries = 10_000
	doc, pub := syntheticExport(b, entries)
	b.Run("go", func(b *testing.B) {
		for b.Loop() {
			if _, err := dp.VerifyExport(bytes.NewReader(doc), pub); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(entries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	})
	b.Run("browser", func(b *testing.B) {
		br := newUIBrowser(b)
		n := newTestNode(b, Config{})
		if err := chromedp.Do(br.ctx, chromedp.Navigate(n.ts.URL+"/ui/")); err != nil {
			b.Fatal(err)
		}
		if _, err := chromedp.Run(br.ctx, chromedp.Poll[bool](`typeof window.aiosVerify === "function"`)); err != nil {
			b.Fatal(err)
		}
		// The document goes to the page once; each iteration verifies it there.
		arg, _ := json.Marshal(string(doc))
		if _, err := chromedp.Run(br.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(window.benchDoc = %s, true)`, arg))); err != nil {
			b.Fatal(err)
		}
		check := fmt.Sprintf(`window.aiosVerify(window.benchDoc, %q).then((r) => r.report ? r.report.entries : -1)`, pub.String())
		for b.Loop() {
			got, err := chromedp.Run(br.ctx, chromedp.Evaluate[int](check, chromedp.EvalAwaitPromise))
			if err != nil || got != entries {
				b.Fatalf("page verified %d entries: %v", got, err)
			}
		}
		b.ReportMetric(float64(entries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	})
}

// uiFederation is a federation card as the console shows it.
type uiFederation struct {
	ID     string            `json:"id"`
	Fields map[string]string `json:"fields"`
	Note   string            `json:"note"`
	Charts int               `json:"charts"`
	Rounds []struct {
		Round  int               `json:"round"`
		Fields map[string]string `json:"fields"`
	} `json:"rounds"`
}

const uiFederationsScript = `[...document.querySelectorAll("[data-federation]")].map((c) => ({
  id: c.dataset.federation,
  fields: Object.fromEntries([...c.querySelectorAll(".facts [data-field]")].map((d) => [d.dataset.field, d.textContent])),
  note: c.querySelector("[data-field=accuracy-note]")?.textContent || "",
  charts: c.querySelectorAll("svg.chart").length,
  rounds: [...c.querySelectorAll("tr[data-round]")].map((tr) => ({ round: Number(tr.dataset.round),
    fields: Object.fromEntries([...tr.querySelectorAll("[data-field]")].map((d) => [d.dataset.field, d.textContent])) })),
}))`

// TestConsoleFederation runs a record-dp federation on three real nodes
// (t = 2, a slice of the breast-cancer data) and checks that the console
// of its coordinator lists it and its rounds with the API's members, ε
// and test accuracy (the coordinator scores each round on held-out rows),
// charts both, says when the rounds carry no accuracy, and lists the MPC
// sessions the API lists, without errors in the browser's console.
func TestConsoleFederation(t *testing.T) {
	b := newUIBrowser(t)
	rows, rounds := 240, 4
	if testing.Short() {
		rows, rounds = 120, 2
	}
	nodes, d, eval := flCluster(t, 3, rows)
	n := nodes[0]
	st := runFederation(t, n, dpFederation("ward-fl", d, 2, rounds, d.Len()))
	if st.State != "done" || len(st.Rounds) == 0 || st.Epsilon == "none" {
		t.Fatalf("federation %s (%s), %d rounds, ε %s", st.State, st.Error, len(st.Rounds), st.Epsilon)
	}
	checkRoundAccuracy(t, n, st, eval)

	b.open(consoleURL(n.ts.URL, n))
	feds, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]uiFederation](uiFederationsScript))
	if err != nil {
		t.Fatal(err)
	}
	if len(feds) != 1 || feds[0].ID != st.ID {
		t.Fatalf("page shows federations %+v, want %s", feds, st.ID)
	}
	f := feds[0]
	if f.Fields["state"] != st.State || f.Fields["privacy"] != st.Privacy || f.Fields["epsilon"] != st.Epsilon ||
		f.Fields["epsilon_total"] != st.EpsilonTotal || f.Fields["rounds"] != fmt.Sprintf("%d of %d", len(st.Rounds), st.PlannedRounds) {
		t.Errorf("federation facts %v, status %+v", f.Fields, st)
	}
	if len(f.Rounds) != len(st.Rounds) {
		t.Fatalf("page shows %d rounds, the API %d", len(f.Rounds), len(st.Rounds))
	}
	for i, r := range st.Rounds {
		got := f.Rounds[i]
		excluded := "none"
		if len(r.Excluded) > 0 {
			excluded = "" // checked by reason below
		}
		if got.Round != r.Round || got.Fields["included"] != strconv.Itoa(len(r.Included)) || got.Fields["epsilon"] != r.Epsilon ||
			got.Fields["epsilon_round"] != r.EpsilonRound || (excluded != "" && got.Fields["excluded"] != excluded) ||
			got.Fields["accuracy"] != fmt.Sprintf("%.1f %%", 100**r.Accuracy) {
			t.Errorf("round %d on the page %+v, API %+v", r.Round, got, r)
		}
		for _, x := range r.Excluded {
			if !strings.Contains(got.Fields["excluded"], x.Reason) {
				t.Errorf("round %d: excluded %q, API %+v", r.Round, got.Fields["excluded"], r.Excluded)
			}
		}
		if r.Epsilon == "none" || r.EpsilonRound == "" {
			t.Errorf("round %d spent no ε: %+v", r.Round, r)
		}
	}
	if f.Note != "" || f.Charts != 2 {
		t.Errorf("rounds with accuracy: note %q, %d charts, want none and 2 (ε and accuracy)", f.Note, f.Charts)
	}

	// The session list on the page is the API's, in its order.
	var list schema.MPCSessionList
	if code := n.json("GET", "/v1/mpc/sessions", "auditor", nil, &list); code != 200 {
		t.Fatalf("sessions: %d", code)
	}
	p, err := chromedp.Run(b.ctx, chromedp.Evaluate[uiPage](uiPageScript))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Sessions) != len(list.Sessions) || len(list.Sessions) < len(st.Rounds) {
		t.Fatalf("page lists %d sessions, the API %d (%d rounds)", len(p.Sessions), len(list.Sessions), len(st.Rounds))
	}
	for i, s := range list.Sessions {
		if got := p.Sessions[i]; got.ID != s.ID || got.State != s.State || got.Included != strconv.Itoa(len(s.Included)) {
			t.Errorf("session %d on the page %+v, API %s %s %d included", i, got, s.ID, s.State, len(s.Included))
		}
	}
	b.screenshot("console-federation")

	// At a phone's width nothing is wider than the screen.
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	if p := b.waitLoaded(); p.ScrollWidth > p.InnerWidth {
		t.Errorf("at phone width the page is %d px wide, the screen %d", p.ScrollWidth, p.InnerWidth)
	}
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	testFederationNoAccuracy(t, b, n, st.ID)
	b.noConsoleErrors()
}

// testFederationNoAccuracy serves the federation's status without the
// rounds' accuracy (as a coordinator without evaluation data sends it)
// and checks that the page says so and charts ε alone.
func testFederationNoAccuracy(t *testing.T, b *uiBrowser, n *mpcNode, id string) {
	t.Helper()
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/fl/federations/"+id {
			n.srv.Handler().ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		n.srv.Handler().ServeHTTP(rec, r)
		var doc map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for _, r := range doc["rounds"].([]any) {
			delete(r.(map[string]any), "accuracy")
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(doc)
	}))
	defer bare.Close()
	b.open(consoleURL(bare.URL, n))
	feds, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]uiFederation](uiFederationsScript))
	if err != nil {
		t.Fatal(err)
	}
	if len(feds) != 1 {
		t.Fatalf("page shows %+v", feds)
	}
	f := feds[0]
	if !strings.Contains(f.Note, "no evaluation data on the coordinator") || f.Charts != 1 {
		t.Errorf("rounds without accuracy: note %q, %d charts, want the note and 1", f.Note, f.Charts)
	}
	for _, r := range f.Rounds {
		if got := r.Fields["accuracy"]; got != "—" {
			t.Errorf("round %d: accuracy %q, want —", r.Round, got)
		}
	}
	b.screenshot("console-federation-no-accuracy")
}

// TestConsoleWithoutMPC: on a node without peers the console loads
// without an error, says it keeps no session and coordinates no
// federation, and writes no error to the browser's console.
func TestConsoleWithoutMPC(t *testing.T) {
	b := newUIBrowser(t)
	n := newTestNode(t, Config{})
	p := b.open(n.ts.URL + "/ui/#token=" + n.tokens[RoleAuditor] + "&key=" + n.srv.NodeID())
	if p.State != "ok" && p.State != "unsigned" {
		t.Errorf("verification %s: %q", p.State, p.Text)
	}
	text, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById("sessions").textContent + document.getElementById("federations").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"The node keeps no MPC session.", "This node coordinates no federation."} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not say %q: %s", want, text)
		}
	}
	// The browser logs the 501 and 404 of the two list routes; they are
	// expected on a node without peers.
	b.forget(0, "501")
	b.forget(0, "404")
	b.noConsoleErrors()
}
