// app.js: the auditor's console. Every number on the page comes from the
// node's API; the verification result comes from verify.js, computed here.

import { verifyText, formatEpsilon, formatDelta, parseJSON } from "./verify.js";
import { lineChart } from "./chart.js";

const $ = (id) => document.getElementById(id);
const TOKEN = "aios-console-token"; // sessionStorage: this tab only
const KEY = "aios-console-node-key"; // localStorage: the pinned node key
const pinSlot = (key) => `aios-console-pin:${key}`; // localStorage: the pinned checkpoint
const PAGE = 10; // releases per page

// For scripts and the browser tests: the page's own verifier.
window.aiosVerify = verifyText;

function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
const short = (id) => (id.length > 16 ? id.slice(0, 8) + "…" + id.slice(-4) : id);
const time = (micro) => new Date(Number(micro) / 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");

class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// api GETs a path of the node with the bearer token: JSON, or the text
// when raw is set.
async function api(path, raw = false) {
  const resp = await fetch(path, { headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN)}` }, cache: "no-store" });
  const text = await resp.text();
  if (!resp.ok) {
    let msg = `${resp.status} ${resp.statusText}`;
    try { msg = JSON.parse(text).error.message; } catch { /* not an error body */ }
    throw new APIError(resp.status, msg);
  }
  return raw ? text : JSON.parse(text);
}

// ---- sign in ----

function readFragment() {
  const f = new URLSearchParams(location.hash.slice(1));
  if (f.has("token")) sessionStorage.setItem(TOKEN, f.get("token"));
  if (f.has("key")) localStorage.setItem(KEY, f.get("key").toLowerCase());
  if (f.has("token") || f.has("key")) history.replaceState(null, "", location.pathname + location.search);
}

function showSignin(error = "") {
  $("console").hidden = true;
  $("who").hidden = true;
  $("signin").hidden = false;
  $("signin-key").value = localStorage.getItem(KEY) || "";
  $("signin-error").hidden = !error;
  $("signin-error").textContent = error;
}

$("signin-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN, $("signin-token").value.trim());
  localStorage.setItem(KEY, $("signin-key").value.trim().toLowerCase());
  $("signin-token").value = "";
  start();
});

$("signout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN);
  showSignin();
});

for (const b of document.querySelectorAll("nav button")) {
  b.addEventListener("click", () => $(b.dataset.go).scrollIntoView({ behavior: "smooth" }));
}

// ---- verification ----

let chain = null; // the verified report, once verification succeeded

async function runVerification() {
  const box = $("verify-result");
  const details = $("verify-details");
  box.dataset.state = "running";
  box.className = "result";
  box.textContent = "Verifying…";
  details.replaceChildren();
  const key = localStorage.getItem(KEY);
  const pinText = localStorage.getItem(pinSlot(key)) || "";
  let text;
  try {
    text = await api("/v1/audit/export", true);
  } catch (err) {
    return fail(box, `could not fetch the audit export: ${err.message}`, {});
  }
  const t0 = performance.now();
  const res = await verifyText(text, key, pinText);
  const ms = Math.round(performance.now() - t0);
  if (res.error) {
    chain = null;
    const e = res.error;
    let head = "FAILED";
    if (e.seq > 0) head = `FAILED at entry ${e.seq}`;
    else if (e.checkpoint > 0) head = `FAILED at checkpoint ${e.checkpoint}`;
    else if (e.budget) head = `FAILED at budget ${e.budget}`;
    fail(box, `${head}: ${e.reason}`, e);
    if (e.kind === "rollback") details.append(h("li", {}, "Entries that a signed checkpoint covered are gone: the log was rolled back."));
    if (e.kind === "fork") details.append(h("li", {}, "The log differs from one it signed before: it was rewritten or forked."));
    if (e.decode) details.append(h("li", {}, "The export could not be read as an audit document."));
    details.append(h("li", {}, `Checked in ${ms} ms in this browser; your pinned checkpoint is unchanged.`));
    return;
  }
  const r = res.report;
  chain = r;
  box.className = r.head_signed ? "result ok" : "result warn";
  box.dataset.state = r.head_signed ? "ok" : "unsigned";
  box.dataset.verified = r.entries;
  box.dataset.signed = r.signed_entries;
  box.textContent = `Verified up to entry ${r.entries}, signed up to entry ${r.signed_entries}` +
    (r.unsigned_entries > 0 ? ` (entries ${r.signed_entries + 1}–${r.entries} are not covered by a signature yet)` : "");
  details.append(h("li", {}, `${plural(r.entries, "entry", "entries")}, ${plural(r.releases, "release", "releases")}; chain head `, h("code", {}, short(r.head_hash)), "."));
  details.append(h("li", {}, `${plural(r.checkpoints, "checkpoint", "checkpoints")}, every signature valid for the pinned key `, h("code", {}, short(key)), "."));
  if (r.legacy_entries > 0) details.append(h("li", {}, `${r.legacy_entries} entries of version 1 predate release commitments.`));
  const pinLine = h("li", { id: "verify-pin" });
  if (r.pins > 0) {
    pinLine.dataset.pinned = r.pinned_entries;
    pinLine.textContent = `The chain extends the checkpoint you pinned last time (entry ${r.pinned_entries}): nothing you saw signed was removed or rewritten.`;
  } else {
    pinLine.textContent = "First verification in this browser: nothing pinned yet to compare with (trust on first use).";
  }
  details.append(pinLine);
  const latest = r.latest_checkpoint;
  const old = pinText ? parseJSON(pinText) : null;
  const oldCount = old ? Number(old.obj.find(([k]) => k === "entry_count")?.[1].num ?? -1) : -1;
  if (latest && latest.entry_count >= oldCount) {
    localStorage.setItem(pinSlot(key), latest.text);
    details.append(h("li", {}, `Pinned the checkpoint of entry ${latest.entry_count} (signed ${time(latest.time_unix_micro)}) for next time.`));
  }
  details.append(h("li", {}, `Checked in ${ms} ms in this browser.`));
  for (const b of r.budgets) markBudget(b);
}

function fail(box, msg, e) {
  box.className = "result fail";
  box.dataset.state = "fail";
  box.dataset.failSeq = e.seq || 0;
  box.dataset.failCheckpoint = e.checkpoint || 0;
  box.dataset.failBudget = e.budget || "";
  box.textContent = msg;
}

$("verify-again").addEventListener("click", runVerification);
$("forget-pin").addEventListener("click", () => {
  localStorage.removeItem(pinSlot(localStorage.getItem(KEY)));
  runVerification();
});

// ---- budgets ----

const eps = (micro) => formatEpsilon(BigInt(micro));

// ledgerOf reads every entry of a budget, oldest first.
async function ledgerOf(name) {
  const out = [];
  let after = 0;
  for (;;) {
    const page = await api(`/v1/budgets/${encodeURIComponent(name)}/ledger?after=${after}&limit=1000`);
    out.push(...page.entries);
    if (page.entries.length < 1000) return out;
    after = page.next_after;
  }
}

const releaseValues = new Map(); // ledger seq → released values (MPC sessions whose release the auditor may read)
const budgetCards = new Map();

async function loadBudgets() {
  const { budgets } = await api("/v1/budgets");
  const list = $("budget-list");
  list.replaceChildren();
  if (budgets.length === 0) list.append(h("p", { className: "hint" }, "No budgets yet."));
  const sessions = new Set();
  for (const b of budgets) {
    const entries = await ledgerOf(b.name);
    for (const e of entries) {
      const m = /^mpc session ([0-9a-f]{64})$/.exec(e.purpose);
      if (m) sessions.add(m[1]);
    }
    const card = budgetCard(b, entries);
    budgetCards.set(b.name, { card, status: b });
    list.append(card);
  }
  return sessions;
}

function budgetCard(b, entries) {
  const spends = entries.filter((e) => e.kind === "spend");
  const creation = entries.find((e) => e.kind === "budget");
  const last = spends.at(-1);
  const pct = b.total_micro_epsilon > 0 ? Math.min(100, (100 * b.spent_micro_epsilon) / b.total_micro_epsilon) : 0;
  const fact = (label, value, field) => [h("dt", {}, label), h("dd", { "data-field": field }, value)];
  const facts = h("dl", { className: "facts" },
    ...fact("ε spent", eps(b.spent_micro_epsilon), "spent"),
    ...fact("ε total", eps(b.total_micro_epsilon), "total"),
    ...fact("ε remaining", eps(b.remaining_micro_epsilon), "remaining"),
    ...(creation && creation.delta_pico ? fact("δ", formatDelta(creation.delta_pico), "delta") : []),
    ...fact("releases", String(b.releases), "releases"),
    ...fact("last release", last ? time(last.time_unix_micro) : "none", "last"));
  const bar = h("div", { className: "bar", title: `${pct.toFixed(1)} % spent` }, h("span"));
  bar.firstChild.style.width = `${pct}%`; // CSSOM, which the page's CSP allows (a style attribute it would not)
  const card = h("article", { className: "card", "data-budget": b.name },
    h("h3", {}, b.name, h("span", { className: "badge", "data-check": "" }, "")),
    b.description ? h("p", { className: "hint" }, b.description) : null,
    bar, facts);
  // Cumulative spend over time, from the budget's entries.
  let acc = 0;
  const points = creation ? [[Number(creation.time_unix_micro), 0]] : [];
  for (const e of spends) {
    acc += e.epsilon_micro;
    points.push([Number(e.time_unix_micro), acc]);
  }
  if (points.length > 0) {
    const xs = points.map((p) => p[0]);
    const series = [{ label: "spent", points, step: true },
      { label: "total", points: [[Math.min(...xs), b.total_micro_epsilon], [Math.max(...xs), b.total_micro_epsilon]], dashed: true }];
    card.append(lineChart(series, { yMax: b.total_micro_epsilon, yFormat: (y) => eps(Math.round(y)),
      xFormat: (x) => time(x).slice(5, 16), title: `cumulative ε spent from budget ${b.name}` }));
  }
  card.append(releaseTable(spends.slice().reverse()));
  return card;
}

// releaseTable is a paged table of spends, newest first.
function releaseTable(spends) {
  const wrap = h("div", { className: "releases" });
  let page = 0;
  const pages = Math.max(1, Math.ceil(spends.length / PAGE));
  const body = h("tbody");
  const label = h("span", { className: "pageno" });
  const prev = h("button", { type: "button", textContent: "‹ newer" });
  const next = h("button", { type: "button", textContent: "older ›" });
  const render = () => {
    body.replaceChildren(...spends.slice(page * PAGE, page * PAGE + PAGE).map((e) => {
      const v = releaseValues.get(e.seq);
      return h("tr", { "data-seq": e.seq },
        h("td", { className: "when" }, time(e.time_unix_micro).replace(" UTC", "")), h("td", {}, e.mechanism || e.kind), h("td", { className: "num" }, eps(e.epsilon_micro)),
        h("td", {}, e.requester), h("td", {}, h("code", {}, e.idempotency_key)),
        h("td", { className: "num" }, v ? v.map((x) => x.toPrecision(6)).join(", ") : "—"));
    }));
    label.textContent = `page ${page + 1} of ${pages} (${spends.length} releases)`;
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  };
  prev.addEventListener("click", () => { page--; render(); });
  next.addEventListener("click", () => { page++; render(); });
  wrap.rerender = render;
  render();
  wrap.append(h("div", { className: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, ...["Time (UTC)", "Kind", "ε", "Requester", "Idempotency key", "Released value"].map((t) => h("th", {}, t)))), body)),
  h("div", { className: "pager" }, prev, label, next));
  return wrap;
}

// markBudget says, on a budget's card, whether the API's figures equal the
// sums of the chain the page verified.
function markBudget(verified) {
  const c = budgetCards.get(verified.name);
  if (!c) return;
  const badge = c.card.querySelector("[data-check]");
  const same = c.status.spent_micro_epsilon === verified.spent_micro_epsilon && c.status.total_micro_epsilon === verified.total_micro_epsilon;
  badge.dataset.check = same ? "ok" : "differs";
  badge.className = same ? "badge ok" : "badge fail";
  badge.textContent = same ? "✓ matches the verified chain" : "✗ differs from the verified chain";
}

// ---- MPC sessions ----

const values = (rel) => rel.values.map((x) => x.toPrecision(6)).join(", ");

function sessionRow(st) {
  const rel = st.release;
  if (rel) for (const seq of rel.ledger_seqs || []) releaseValues.set(seq, rel.values);
  const excluded = (st.excluded || []).map((x) => `${short(x.node)} (${x.reason}${x.cheating ? ", cheating" : ""})`).join("; ") || "none";
  let shown = "—";
  if (rel) shown = values(rel);
  else if (st.state === "done") shown = st.spec && !st.spec.budget ? "none (no budget: not released here)" : "not visible to you";
  return h("tr", { "data-session": st.id, "data-state": st.state },
    h("td", {}, h("code", { title: st.id }, short(st.id))), h("td", { className: "when" }, st.started_at ? time(Date.parse(st.started_at) * 1000).replace(" UTC", "") : ""),
    h("td", {}, st.state), h("td", {}, st.spec ? st.spec.operation : ""),
    h("td", { className: "num" }, st.spec ? eps(st.spec.epsilon_micro) : ""),
    h("td", { className: "num", "data-field": "included" }, String((st.included || []).length)),
    h("td", { "data-field": "excluded" }, excluded),
    h("td", { className: "num" }, shown));
}

async function loadSession(id, tbody) {
  let st;
  try {
    st = await api(`/v1/mpc/sessions/${id}`);
  } catch (err) {
    tbody.append(h("tr", { "data-session": id }, h("td", {}, h("code", {}, short(id))), h("td", { colSpan: 7, className: "fail" }, err.message)));
    return;
  }
  tbody.querySelector(`tr[data-session="${st.id}"]`)?.remove();
  tbody.prepend(sessionRow(st));
  for (const c of budgetCards.values()) c.card.querySelector(".releases").rerender();
}

// loadSessions lists the sessions the node keeps (GET /v1/mpc/sessions),
// and looks up those the ledger names that the list no longer holds.
async function loadSessions(ledgerIds) {
  const tbody = $("session-table").querySelector("tbody");
  const { sessions, total } = await api(`/v1/mpc/sessions?limit=${LIST}`).catch((err) => {
    if (err.status === 501) return { sessions: [], total: 0 }; // no MPC on this node
    throw err;
  });
  tbody.replaceChildren(...sessions.map(sessionRow));
  $("session-count").textContent = total > sessions.length ? `The newest ${sessions.length} of ${total} sessions.` : plural(total, "session", "sessions") + ".";
  const listed = new Set(sessions.map((s) => s.id));
  for (const id of ledgerIds) if (!listed.has(id)) await loadSession(id, tbody);
  if (tbody.children.length === 0) tbody.append(h("tr", {}, h("td", { colSpan: 8, className: "hint" }, "The node keeps no MPC session.")));
  for (const c of budgetCards.values()) c.card.querySelector(".releases").rerender();
}

$("session-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const id = $("session-id").value.trim().toLowerCase();
  if (id) loadSession(id, $("session-table").querySelector("tbody"));
});

// ---- federations ----

const LIST = 100; // sessions and federations listed

async function loadFederations() {
  const view = $("federation-view");
  const { federations, total } = await api(`/v1/fl/federations?limit=${LIST}`).catch((err) => {
    if (err.status === 404) return { federations: [], total: 0 }; // no federated learning on this node
    throw err;
  });
  view.replaceChildren();
  $("federation-count").textContent = federations.length === 0 ? "This node coordinates no federation." :
    (total > federations.length ? `The newest ${federations.length} of ${total} federations.` : plural(total, "federation", "federations") + ".");
  for (const f of federations) {
    const card = h("article", { className: "card wide", "data-federation": f.id }, h("h3", {}, f.name), h("p", { className: "hint" }, "Loading…"));
    view.append(card);
    await loadFederation(f.id, card);
  }
}

async function loadFederation(id, card) {
  let f;
  try {
    f = await api(`/v1/fl/federations/${encodeURIComponent(id)}`);
  } catch (err) {
    card.replaceChildren(h("h3", {}, short(id)), h("p", { className: "fail" }, err.message));
    return;
  }
  const rounds = f.rounds || [];
  const dp = f.privacy === "record-dp";
  const epsPoints = dp ? rounds.filter((r) => r.epsilon !== "none").map((r) => [r.round, Number(r.epsilon)]) : [];
  const accPoints = rounds.filter((r) => typeof r.accuracy === "number").map((r) => [r.round, r.accuracy]);
  const fact = (label, value, field) => [h("dt", {}, label), h("dd", { "data-field": field }, value)];
  const charts = h("div", { className: "charts" });
  if (accPoints.length) {
    charts.append(lineChart([{ label: "test accuracy", points: accPoints }], { yMax: 1, xFormat: (x) => `round ${x}`,
      yFormat: (y) => `${Math.round(100 * y)} %`, title: `test accuracy per round of federation ${f.name}` }));
  }
  if (epsPoints.length) {
    const total = Number(f.epsilon_total);
    const series = [{ label: "ε spent (composed)", points: epsPoints, step: true }];
    if (total > 0) series.push({ label: "ε total", points: [[epsPoints[0][0], total], [epsPoints.at(-1)[0], total]], dashed: true });
    charts.append(lineChart(series, { yMax: total || 0, xFormat: (x) => `round ${x}`, yFormat: (y) => y.toFixed(2),
      title: `ε spent after each round of federation ${f.name}` }));
  }
  const notes = [];
  if (!accPoints.length) notes.push(h("p", { className: "hint", "data-field": "accuracy-note" }, "Test accuracy: no evaluation data on the coordinator."));
  if (!dp) notes.push(h("p", { className: "hint" }, "Secure aggregation claims no differential privacy: no round spends ε."));
  const head = ["Round", "Stage", "Included", "Excluded (reason)", "Samples", "ε after", "ε of the round", "Accuracy", "Error"];
  card.replaceChildren(
    h("h3", {}, f.name, h("span", { className: "badge" }, f.state)),
    h("dl", { className: "facts" },
      ...fact("id", short(f.id), "id"), ...fact("state", f.state, "state"), ...fact("privacy", f.privacy, "privacy"),
      ...fact("ε spent", f.epsilon, "epsilon"), ...(dp ? fact("ε total", f.epsilon_total, "epsilon_total") : []),
      ...(dp ? fact("δ", String(f.delta), "delta") : []),
      ...fact("rounds", `${rounds.length} of ${f.planned_rounds}`, "rounds"),
      ...(f.stopped ? fact("stopped", f.stopped, "stopped") : []), ...(f.error ? fact("error", f.error, "error") : [])),
    charts, ...notes,
    h("div", { className: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, ...head.map((t) => h("th", {}, t)))),
      h("tbody", {}, ...rounds.map((r) => h("tr", { "data-round": r.round },
        h("td", { className: "num" }, String(r.round)), h("td", {}, r.stage),
        h("td", { className: "num", "data-field": "included" }, String((r.included || []).length)),
        h("td", { "data-field": "excluded" }, (r.excluded || []).map((x) => `${short(x.node)} (${x.reason}${x.cheating ? ", cheating" : ""})`).join("; ") || "none"),
        h("td", { className: "num" }, String(r.samples)),
        h("td", { className: "num", "data-field": "epsilon" }, r.epsilon),
        h("td", { className: "num", "data-field": "epsilon_round" }, r.epsilon_round || "—"),
        h("td", { className: "num", "data-field": "accuracy" }, typeof r.accuracy === "number" ? `${(100 * r.accuracy).toFixed(1)} %` : "—"),
        h("td", {}, r.error || "")))))));
}

$("federation-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const id = $("federation-id").value.trim().toLowerCase();
  if (!id) return;
  let card = document.querySelector(`[data-federation="${id}"]`);
  if (!card) {
    card = h("article", { className: "card wide", "data-federation": id });
    $("federation-view").prepend(card);
  }
  loadFederation(id, card);
});

// ---- node ----

// parseMetrics reads aios_http_requests_total from the Prometheus text.
function parseMetrics(text) {
  const routes = new Map();
  let total = 0, e4 = 0, e5 = 0;
  for (const line of text.split("\n")) {
    const m = /^aios_http_requests_total\{route="((?:[^"\\]|\\.)*)",method="([^"]*)",status="(\d+)"\} (\d+)$/.exec(line);
    if (!m) continue;
    const n = Number(m[4]);
    const key = `${m[2]} ${m[1]}`;
    const r = routes.get(key) || { n: 0, e4: 0, e5: 0 };
    r.n += n;
    total += n;
    if (m[3][0] === "4") { r.e4 += n; e4 += n; }
    if (m[3][0] === "5") { r.e5 += n; e5 += n; }
    routes.set(key, r);
  }
  return { routes, total, e4, e5, at: performance.now() };
}

let lastMetrics = null;

async function loadNode() {
  const hl = await api("/v1/health");
  const key = localStorage.getItem(KEY);
  const up = hl.uptime_seconds;
  const fact = (k, v, field) => [h("dt", {}, k), h("dd", { "data-field": field }, v)];
  $("node-info").replaceChildren(
    ...fact("version", hl.version, "version"),
    ...fact("accelerator", hl.accel + (hl.accel_device ? ` (${hl.accel_device})` : ""), "accel"),
    ...fact("uptime", `${Math.floor(up / 3600)} h ${Math.floor((up % 3600) / 60)} min ${Math.floor(up % 60)} s`, "uptime"),
    ...fact("node key", hl.node_id === key ? "the key you pinned" : `${short(hl.node_id)}: NOT the key you pinned`, "key"));
  $("who-node").textContent = `node ${short(key)}`;
  const m = parseMetrics(await api("/metrics", true));
  const rate = (a, b) => (lastMetrics ? ((a - b) / ((m.at - lastMetrics.at) / 1000)).toFixed(2) + " /s" : "…");
  $("node-rates").replaceChildren(
    ...fact("requests", String(m.total), "requests"),
    ...fact("request rate", rate(m.total, lastMetrics?.total), "rate"),
    ...fact("client errors (4xx)", String(m.e4), "e4"),
    ...fact("server errors (5xx)", String(m.e5), "e5"),
    ...fact("error rate", rate(m.e4 + m.e5, (lastMetrics?.e4 ?? 0) + (lastMetrics?.e5 ?? 0)), "erate"));
  lastMetrics = m;
  const rows = [...m.routes].sort((a, b) => b[1].n - a[1].n).slice(0, 12);
  $("route-table").querySelector("tbody").replaceChildren(...rows.map(([k, r]) =>
    h("tr", {}, h("td", {}, h("code", {}, k)), h("td", { className: "num" }, String(r.n)), h("td", { className: "num" }, `${r.e4} / ${r.e5}`))));
}

// ---- start ----

let timer = 0;

async function start() {
  if (!sessionStorage.getItem(TOKEN) || !/^[0-9a-f]{64}$/.test(localStorage.getItem(KEY) || "")) return showSignin();
  $("signin").hidden = true;
  $("console").hidden = false;
  $("who").hidden = false;
  try {
    await loadNode();
    const sessions = await loadBudgets();
    await loadSessions(sessions);
    await loadFederations();
  } catch (err) {
    if (err.status === 401 || err.status === 403) return showSignin(`The node refused the token: ${err.message}`);
    document.body.dataset.error = err.message;
  }
  await runVerification();
  document.body.dataset.loaded = "1";
  clearInterval(timer);
  timer = setInterval(() => loadNode().catch(() => {}), 5000);
}

readFragment();
start();
