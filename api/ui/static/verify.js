// verify.js: the audit export (aios-dp-audit/v1) verified in the browser.
//
// This is the algorithm of the Go verifier, dp.Verify (dp/audit.go and
// dp/ledger_rdp.go), step for step and with the same failure reasons, so
// that the page and `aios audit verify` agree on every document:
//
//   1. decode the document as Go's encoding/json does into dp.AuditDocument
//      (integers exact, as BigInt; unknown fields rejected; field names
//      matched exactly, else case-insensitively; null leaves a field zero);
//   2. per entry: seq 1, 2, … without gap; version and the fields it
//      implies; prev_hash = the previous entry's hash;
//      hash = SHA-256(prev_hash ‖ canonical entry) (dp.Entry.Canonical);
//      ε in range; budgets created once, spent within their total, and an
//      (ε, δ) budget's spends equal to the growth of its composed ε;
//   3. per checkpoint: it names a prefix of the chain by its head hash, and
//      its Ed25519 signature (RFC 8032) over dp.Checkpoint.Message verifies
//      with the pinned node key;
//   4. the chain extends the auditor's pinned checkpoint;
//   5. the budgets table equals the sums of the chain.
//
// Hashing and signatures use WebCrypto (crypto.subtle); nothing here
// trusts what the node says about the result.

export const EXPORT_FORMAT = "aios-dp-audit/v1";
export const PIN_FORMAT = "aios-dp-pin/v1";

const KIND_BUDGET = "budget";
const KIND_SPEND = "spend";
const MICRO_PER_EPSILON = 1000000n;
const MAX_EPSILON = 1000n * MICRO_PER_EPSILON; // dp.MaxEpsilon
const MAX_RDP_MICRO = 1000000000000000n; // dp.MaxRDPMicro
const MAX_DELTA = 10000000000n; // dp.MaxDelta, pico-δ (10^-2)
const MAX_ORDERS = 64;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const MAX_EXPORT_SIZE = 512 << 20; // dp.MaxExportSize

// AuditError mirrors dp.AuditError: the first failure, at an entry (seq),
// a checkpoint (1-based), a budget, or the document as a whole.
export class AuditError extends Error {
  constructor({ seq = 0, checkpoint = 0, budget = "", reason, kind = "" }) {
    let where = "";
    if (seq > 0) where = `entry ${seq}: `;
    else if (checkpoint > 0) where = `checkpoint ${checkpoint}: `;
    else if (budget !== "") where = `budget ${JSON.stringify(budget)}: `;
    super(`audit verification failed: ${where}${reason}`);
    this.seq = seq;
    this.checkpoint = checkpoint;
    this.budget = budget;
    this.reason = reason;
    this.kind = kind; // "rollback", "fork" or ""
  }
}

// DecodeError is a document that is not a valid export (dp.ErrInvalidExport)
// or a pin that is not valid (dp.ErrInvalidPin).
export class DecodeError extends Error {}

// ---- JSON, decoded as encoding/json decodes into the Go structs ----

// parseJSON parses RFC 8259 JSON text. Numbers keep their literal text
// ({num: "…"}), so that integers are exact; objects are arrays of [key,
// value] pairs in document order (duplicates kept, as Go sees them).
export function parseJSON(text) {
  let i = 0;
  const fail = (why) => { throw new DecodeError(`JSON at offset ${i}: ${why}`); };
  const ws = () => {
    for (let c = text.charCodeAt(i); c === 32 || c === 10 || c === 9 || c === 13; c = text.charCodeAt(++i));
  };
  const value = (depth) => {
    if (depth > 10000) fail("nested too deeply");
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const pairs = [];
      ws();
      if (text[i] === "}") { i++; return { obj: pairs }; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a string key");
        const k = string();
        ws();
        if (text[i] !== ":") fail("expected ':'");
        i++;
        pairs.push([k, value(depth + 1)]);
        ws();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "}") { i++; return { obj: pairs }; }
        fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const items = [];
      ws();
      if (text[i] === "]") { i++; return { arr: items }; }
      for (;;) {
        items.push(value(depth + 1));
        ws();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "]") { i++; return { arr: items }; }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return { str: string() };
    for (const [lit, v] of LITERALS) {
      if (text.startsWith(lit, i)) { i += lit.length; return v; }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) fail("unexpected character");
    i += m[0].length;
    return { num: m[0] };
  };
  const string = () => {
    i++; // opening quote
    let out = "";
    for (;;) {
      PLAIN.lastIndex = i;
      const run = PLAIN.exec(text); // the characters up to a quote, a backslash or a control character
      if (run) { out += run[0]; i += run[0].length; }
      if (i >= text.length) fail("unterminated string");
      const c = text[i];
      if (c === '"') { i++; return out; }
      if (c < " ") fail("control character in string");
      const e = text[i + 1];
      if (Object.hasOwn(ESCAPES, e)) { out += ESCAPES[e]; i += 2; continue; }
      if (e !== "u" || !/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail("bad escape");
      out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
      i += 6;
    }
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail("trailing data after the document");
  return v;
}

const LITERALS = [["true", { bool: true }], ["false", { bool: false }], ["null", { nul: true }]];
const ESCAPES = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const PLAIN = /[^"\\\x00-\x1f]+/y;

// foldKey is encoding/json's case folding of a field name.
const foldKey = (k) => Array.from(k, (c) => c.toLowerCase().toUpperCase()).join("");

// decodeStruct decodes a parsed object into fields: {jsonName: decoder}.
// Like encoding/json with DisallowUnknownFields: an exact name wins, else
// a case-insensitive one; an unknown name fails; null leaves the zero
// value. Unlike encoding/json, which lets a later duplicate overwrite (or,
// for an array of objects, merge into) an earlier one, a field given twice
// is refused: no honest node writes one.
const foldedNames = new WeakMap(); // fields → Map(folded name → name)

function decodeStruct(v, fields, zero, what) {
  const out = zero();
  if (v.nul) return out;
  if (!v.obj) throw new DecodeError(`${what}: not an object`);
  let folded = foldedNames.get(fields);
  if (!folded) {
    folded = new Map(Object.keys(fields).map((k) => [foldKey(k), k]));
    foldedNames.set(fields, folded);
  }
  const seen = new Set();
  for (const [k, val] of v.obj) {
    const name = Object.hasOwn(fields, k) ? k : folded.get(foldKey(k));
    if (name === undefined) throw new DecodeError(`${what}: unknown field ${JSON.stringify(k)}`);
    if (seen.has(name)) throw new DecodeError(`${what}: field ${JSON.stringify(name)} given twice`);
    seen.add(name);
    if (val.nul) continue;
    out[name] = fields[name](val, `${what}.${name}`);
  }
  return out;
}

function int64(v, what) {
  if (v.num === undefined || !/^-?(0|[1-9][0-9]*)$/.test(v.num)) throw new DecodeError(`${what}: not an integer`);
  const n = BigInt(v.num);
  if (n < INT64_MIN || n > INT64_MAX) throw new DecodeError(`${what}: out of the int64 range`);
  return n;
}

function str(v, what) {
  if (v.str === undefined) throw new DecodeError(`${what}: not a string`);
  return v.str;
}

function int64s(v, what) {
  if (!v.arr) throw new DecodeError(`${what}: not an array`);
  return v.arr.map((x, k) => (x.nul ? 0n : int64(x, `${what}[${k}]`)));
}

function array(dec) {
  return (v, what) => {
    if (!v.arr) throw new DecodeError(`${what}: not an array`);
    return v.arr.map((x, k) => dec(x, `${what}[${k}]`));
  };
}

const HEX = new Uint8Array(128);
for (const [k, c] of Array.from("0123456789abcdef").entries()) {
  HEX[c.charCodeAt(0)] = k;
  HEX[c.toUpperCase().charCodeAt(0)] = k;
}

// hexBytes is Go's hex.Decode (either case), as dp.HexBytes and dp.Hash.
function hexBytes(s, what) {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new DecodeError(`${what}: not hex`);
  const out = new Uint8Array(s.length / 2);
  for (let k = 0; k < out.length; k++) out[k] = (HEX[s.charCodeAt(2 * k)] << 4) | HEX[s.charCodeAt(2 * k + 1)];
  return out;
}

function hash(v, what) {
  const s = str(v, what);
  if (s.length !== 64) throw new DecodeError(`${what}: hash: want 64 hex digits`);
  return hexBytes(s, what);
}

function hexField(v, what) {
  const s = str(v, what);
  if (s.length > 256) throw new DecodeError(`${what}: hex string too long`);
  return hexBytes(s, what);
}

function rfc3339(v, what) {
  const s = str(v, what);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s)) throw new DecodeError(`${what}: not an RFC 3339 time`);
  return s;
}

const ZERO_HASH = () => new Uint8Array(32);

const entryFields = {
  seq: int64, version: int64, kind: str, budget: str, epsilon_micro: int64, mechanism: str,
  l0: int64, linf: int64, frac_bits: int64, lower: int64, upper: int64, requester: str, purpose: str,
  time_unix_micro: int64, idempotency_key: str, release_commitment: hexField,
  delta_pico: int64, log_inv_delta_micro: int64, rdp_orders_milli: int64s,
  noise_multiplier_micro: int64, sample_rate_ppb: int64, steps: int64, noise_shares: int64, rdp_micro: int64s,
  prev_hash: hash, hash: hash,
};

const zeroEntry = () => ({
  seq: 0n, version: 0n, kind: "", budget: "", epsilon_micro: 0n, mechanism: "", l0: 0n, linf: 0n, frac_bits: 0n,
  lower: 0n, upper: 0n, requester: "", purpose: "", time_unix_micro: 0n, idempotency_key: "",
  release_commitment: new Uint8Array(0), delta_pico: 0n, log_inv_delta_micro: 0n, rdp_orders_milli: [],
  noise_multiplier_micro: 0n, sample_rate_ppb: 0n, steps: 0n, noise_shares: 0n, rdp_micro: [],
  prev_hash: ZERO_HASH(), hash: ZERO_HASH(),
});

const checkpointFields = { entry_count: int64, head_hash: hash, time_unix_micro: int64, signature: hexField };
const zeroCheckpoint = () => ({ entry_count: 0n, head_hash: ZERO_HASH(), time_unix_micro: 0n, signature: new Uint8Array(0) });

const budgetFields = { name: str, total_micro_epsilon: int64, spent_micro_epsilon: int64 };
const zeroBudget = () => ({ name: "", total_micro_epsilon: 0n, spent_micro_epsilon: 0n });

const docFields = {
  format: str, node_id: str, exported_at: rfc3339,
  budgets: array((v, w) => decodeStruct(v, budgetFields, zeroBudget, w)),
  entries: array((v, w) => decodeStruct(v, entryFields, zeroEntry, w)),
  checkpoints: array((v, w) => decodeStruct(v, checkpointFields, zeroCheckpoint, w)),
};
const zeroDoc = () => ({ format: "", node_id: "", exported_at: "", budgets: [], entries: [], checkpoints: [] });

// decodeExport is dp.DecodeExport: the document, or a DecodeError.
export function decodeExport(text) {
  if (text.length > MAX_EXPORT_SIZE) throw new DecodeError(`larger than ${MAX_EXPORT_SIZE} bytes`);
  const doc = decodeStruct(parseJSON(text), docFields, zeroDoc, "document");
  if (doc.format !== EXPORT_FORMAT) throw new DecodeError(`format is not "${EXPORT_FORMAT}"`);
  return doc;
}

// decodePin decodes a pin as dp.DecodePin does (its signature is checked
// by verify, against the trusted key).
export function decodePin(text) {
  const fields = { format: str, node_id: str, ...checkpointFields };
  return decodeStruct(parseJSON(text), fields, () => ({ format: "", node_id: "", ...zeroCheckpoint() }), "pin");
}

// ---- canonical encodings (dp.Entry.Canonical, dp.Checkpoint.Message) ----

const UTF8 = new TextEncoder();

class Builder {
  constructor() { this.parts = []; this.len = 0; }
  bytes(b) { this.parts.push(b); this.len += b.length; }
  i64(v) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, BigInt.asIntN(64, v));
    this.bytes(b);
  }
  // raw is a byte string: 4-byte big-endian length, then the bytes.
  raw(b) {
    const l = new Uint8Array(4);
    new DataView(l.buffer).setUint32(0, b.length);
    this.bytes(l);
    this.bytes(b);
  }
  str(s) { this.raw(UTF8.encode(s)); }
  i64s(vs) { this.i64(BigInt(vs.length)); for (const v of vs) this.i64(v); }
  done() {
    const out = new Uint8Array(this.len);
    let o = 0;
    for (const p of this.parts) { out.set(p, o); o += p.length; }
    return out;
  }
}

const version = (e) => (e.version === 0n ? 1n : e.version);

// canonical is dp.Entry.Canonical: null for an unknown version.
export function canonical(e) {
  const v = version(e);
  if (v < 1n || v > 3n) return null;
  const b = new Builder();
  b.str(`aios/dp/ledger-entry/v${v}`);
  b.i64(e.seq);
  b.str(e.kind);
  b.str(e.budget);
  b.i64(e.epsilon_micro);
  b.str(e.mechanism);
  b.i64(e.l0);
  b.i64(e.linf);
  b.i64(e.frac_bits);
  b.i64(e.lower);
  b.i64(e.upper);
  b.str(e.requester);
  b.str(e.purpose);
  b.i64(e.time_unix_micro);
  b.str(e.idempotency_key);
  if (v >= 2n) b.raw(e.release_commitment);
  if (v === 3n) {
    b.i64(e.delta_pico);
    b.i64(e.log_inv_delta_micro);
    b.i64s(e.rdp_orders_milli);
    b.i64(e.noise_multiplier_micro);
    b.i64(e.sample_rate_ppb);
    b.i64(e.steps);
    b.i64(e.noise_shares);
    b.i64s(e.rdp_micro);
  }
  return b.done();
}

// checkpointMessage is dp.Checkpoint.Message: what the node signs.
export function checkpointMessage(cp, pub) {
  const b = new Builder();
  b.str("aios/dp/checkpoint/v1");
  b.i64(cp.entry_count);
  b.bytes(cp.head_hash);
  b.i64(cp.time_unix_micro);
  b.bytes(pub);
  return b.done();
}

async function sha256(...parts) {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const buf = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { buf.set(p, o); o += p.length; }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
}

const eq = (a, b) => a.length === b.length && a.every((x, k) => x === b[k]);
export const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

// ---- Ed25519 with WebCrypto ----

// importNodeKey imports a node public key (64 hex digits) for Ed25519
// verification; it fails with a clear error where the browser has no
// WebCrypto Ed25519 (Chromium 137, Firefox 129, Safari 17 have it).
export async function importNodeKey(hex) {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new DecodeError("the node key must be 64 hex digits (the node_id of /v1/health)");
  const raw = hexBytes(hex, "key");
  try {
    const key = await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
    return { raw, key, hex: hex.toLowerCase() };
  } catch (err) {
    throw new Error(`this browser cannot verify Ed25519 signatures with WebCrypto (${err.name}); use a current Chromium, Firefox or Safari`);
  }
}

async function verifySig(nodeKey, msg, sig) {
  if (sig.length !== 64) return false; // nodekey.SignatureSize
  return crypto.subtle.verify({ name: "Ed25519" }, nodeKey.key, sig, msg);
}

// ---- (ε, δ) accounting (dp/ledger_rdp.go, dp/rdp.go) ----

const satAdd = (a, b) => (a >= MAX_RDP_MICRO - b ? MAX_RDP_MICRO : a + b);

// logInvDeltaMicro is dp.LogInvDeltaMicro: ⌈10^6 · ln(1/δ)⌉ + 1.
const logInvDeltaMicro = (d) => BigInt(Math.ceil(1e6 * (12 * Math.LN10 - Math.log(Number(d))))) + 1n;

// convertRDP is dp's convertRDP: min_i rdp[i] + ⌈logInv·1000/(orders[i]−1000)⌉.
function convertRDP(rdp, orders, logInv) {
  let best = INT64_MAX;
  orders.forEach((a, k) => {
    const d = a - 1000n;
    const term = (logInv * 1000n + d - 1n) / d;
    const e = satAdd(rdp[k], term);
    if (e < best) best = e;
  });
  return best;
}

function checkOrders(orders) {
  if (orders.length === 0 || orders.length > MAX_ORDERS) return `has ${orders.length} Rényi orders, want 1 to ${MAX_ORDERS}`;
  let prev = 1000n;
  for (const a of orders) {
    if (a <= prev || a > 1000000n) return "Rényi orders are not increasing in (1, 1000]";
    prev = a;
  }
  return "";
}

const hasV3Fields = (e) => e.delta_pico !== 0n || e.log_inv_delta_micro !== 0n || e.rdp_orders_milli.length !== 0 ||
  e.noise_multiplier_micro !== 0n || e.sample_rate_ppb !== 0n || e.steps !== 0n || e.noise_shares !== 0n || e.rdp_micro.length !== 0;

// formatEpsilon is dp.MicroEpsilon.String: an exact decimal.
export function formatEpsilon(m) {
  m = BigInt(m);
  const sign = m < 0n ? "-" : "";
  if (m < 0n) m = -m;
  let s = `${m / MICRO_PER_EPSILON}.${(m % MICRO_PER_EPSILON).toString().padStart(6, "0")}`;
  s = s.replace(/0+$/, "").replace(/\.$/, "");
  return sign + s;
}

// formatDelta is dp.PicoDelta.String ("1e-05" as Go writes it).
export function formatDelta(d) {
  const x = Number(d) / 1e12;
  return x.toExponential().replace(/e([+-])(\d)$/, "e$10$2");
}

function newRDPAcc(e) {
  if (version(e) < 3n) return null;
  const bad = (reason) => new AuditError({ seq: Number(e.seq), reason: "(ε, δ) budget " + reason });
  if (e.delta_pico <= 0n || e.delta_pico > MAX_DELTA) throw bad("has δ out of range");
  const want = logInvDeltaMicro(e.delta_pico);
  if (e.log_inv_delta_micro < want - 1n || e.log_inv_delta_micro > want + 1n) {
    throw bad(`has conversion constant ${e.log_inv_delta_micro}, want ${want} for δ = ${formatDelta(e.delta_pico)}`);
  }
  const why = checkOrders(e.rdp_orders_milli);
  if (why) throw bad(why);
  if (e.noise_multiplier_micro !== 0n || e.sample_rate_ppb !== 0n || e.steps !== 0n || e.noise_shares !== 0n || e.rdp_micro.length !== 0) {
    throw bad("creation carries spend fields");
  }
  return { orders: e.rdp_orders_milli, logInv: e.log_inv_delta_micro, sums: e.rdp_orders_milli.map(() => 0n) };
}

function rdpSpend(a, e, spent) {
  const seq = Number(e.seq);
  if (a === null) {
    if (version(e) === 3n) throw new AuditError({ seq, reason: "version-3 spend on a pure-ε budget" });
    return;
  }
  if (version(e) !== 3n) throw new AuditError({ seq, reason: "spend on an (ε, δ) budget is not of version 3" });
  if (e.delta_pico !== 0n || e.log_inv_delta_micro !== 0n || e.rdp_orders_milli.length !== 0) {
    throw new AuditError({ seq, reason: "spend carries budget fields" });
  }
  if (e.rdp_micro.length !== a.orders.length) {
    throw new AuditError({ seq, reason: `spend has ${e.rdp_micro.length} RDP values, its budget ${a.orders.length} orders` });
  }
  e.rdp_micro.forEach((v, k) => {
    if (v < 0n || v > MAX_RDP_MICRO) throw new AuditError({ seq, reason: "RDP value out of range" });
    a.sums[k] = satAdd(a.sums[k], v);
  });
  const after = convertRDP(a.sums, a.orders, a.logInv);
  if (spent > INT64_MAX - e.epsilon_micro || after !== spent + e.epsilon_micro) {
    throw new AuditError({ seq, reason: `spend of ε=${formatEpsilon(e.epsilon_micro)} does not match its RDP: the composed ε goes from ${formatEpsilon(spent)} to ${formatEpsilon(after)}` });
  }
}

function checkVersion(e, afterV1) {
  const seq = Number(e.seq);
  const v = version(e);
  if (v < 3n && hasV3Fields(e)) throw new AuditError({ seq, reason: `version-${v} entry with version-3 fields (not covered by its hash)` });
  if (v === 1n) {
    if (afterV1) throw new AuditError({ seq, reason: "version-1 entry after a later version" });
    if (e.release_commitment.length !== 0) throw new AuditError({ seq, reason: "version-1 entry with a release commitment (not covered by its hash)" });
  } else if (v === 2n || v === 3n) {
    const want = e.kind === KIND_SPEND ? 32 : 0;
    if (e.release_commitment.length !== want) {
      throw new AuditError({ seq, reason: `release commitment has ${e.release_commitment.length} bytes, want ${want} for a ${JSON.stringify(e.kind)} entry` });
    }
  } else {
    throw new AuditError({ seq, reason: `unknown entry version ${e.version}` });
  }
}

// extends is dp's extends: the chain with prefix hashes heads contains the
// prefix that cp signs. It returns null or {reason, kind}.
function extendsChain(heads, cp) {
  const n = BigInt(heads.length - 1);
  if (cp.entry_count < 0n) return { reason: "negative entry count", kind: "" };
  if (cp.entry_count > n) return { reason: `covers ${cp.entry_count} entries, the chain has ${n} (entries were removed)`, kind: "rollback" };
  if (!eq(cp.head_hash, heads[Number(cp.entry_count)])) {
    return { reason: `head hash after ${cp.entry_count} entries differs from the chain (the chain was rewritten or forked)`, kind: "fork" };
  }
  return null;
}

async function checkPin(p, nodeKey) {
  if (p.format !== PIN_FORMAT) throw new DecodeError(`invalid audit pin: format is not "${PIN_FORMAT}"`);
  if (p.node_id !== nodeKey.hex) throw new DecodeError(`invalid audit pin: pin is for node ${p.node_id.slice(0, 16)}…, not the trusted key`);
  if (p.entry_count < 0n) throw new DecodeError("invalid audit pin: negative entry count");
  if (!(await verifySig(nodeKey, checkpointMessage(p, nodeKey.raw), p.signature))) throw new DecodeError("invalid audit pin: bad signature");
}

// verify is dp.Verify: doc (from decodeExport) against nodeKey (from
// importNodeKey) and an optional pin (from decodePin). It returns the
// report of dp.VerifyReport (as numbers and hex) or throws the first
// failure, an AuditError (or a DecodeError for a pin that is not valid).
export async function verify(doc, nodeKey, pin = null) {
  if (doc.format !== EXPORT_FORMAT) throw new AuditError({ reason: "unknown document format" });
  if (doc.node_id !== nodeKey.hex) throw new AuditError({ reason: "document is from another node than the trusted key" });
  if (pin) await checkPin(pin, nodeKey);
  // The hashes are independent of each other (each is over the entry's own
  // prev_hash field): compute them all at once, check them in order below.
  const digests = await Promise.all(doc.entries.map((e) => {
    const c = canonical(e);
    return c === null ? null : sha256(e.prev_hash, c);
  }));
  const chain = new Map();
  let prev = ZERO_HASH();
  const heads = [prev];
  let legacy = 0, releases = 0;
  for (let k = 0; k < doc.entries.length; k++) {
    const e = doc.entries[k];
    const seq = Number(e.seq);
    if (e.seq !== BigInt(k + 1)) throw new AuditError({ seq: k + 1, reason: `entry missing or out of order (found seq ${e.seq})` });
    checkVersion(e, legacy < k);
    if (version(e) === 1n) legacy++;
    if (!eq(e.prev_hash, prev)) throw new AuditError({ seq, reason: "prev_hash does not match the previous entry's hash" });
    if (!eq(digests[k], e.hash)) throw new AuditError({ seq, reason: "hash does not match the entry's contents" });
    if (e.epsilon_micro <= 0n || e.epsilon_micro > MAX_EPSILON) throw new AuditError({ seq, reason: "epsilon out of range" });
    if (e.kind === KIND_BUDGET) {
      if (chain.has(e.budget)) throw new AuditError({ seq, reason: "budget created twice" });
      chain.set(e.budget, { total: e.epsilon_micro, spent: 0n, rdp: newRDPAcc(e) });
    } else if (e.kind === KIND_SPEND) {
      const a = chain.get(e.budget);
      if (!a) throw new AuditError({ seq, reason: "spend on a budget that does not exist yet" });
      rdpSpend(a.rdp, e, a.spent);
      if (e.epsilon_micro > a.total - a.spent) throw new AuditError({ seq, reason: "spend exceeds the budget" });
      a.spent += e.epsilon_micro;
      releases++;
    } else {
      throw new AuditError({ seq, reason: "unknown entry kind" });
    }
    prev = e.hash;
    heads.push(prev);
  }
  const rep = {
    node_id: doc.node_id, entries: doc.entries.length, releases, head_hash: toHex(prev),
    checkpoints: doc.checkpoints.length, signed_entries: 0, latest_checkpoint: null,
    unsigned_entries: 0, head_signed: false, legacy_entries: legacy, pins: 0, pinned_entries: 0, budgets: [],
  };
  let latest = null;
  for (let k = 0; k < doc.checkpoints.length; k++) {
    const cp = doc.checkpoints[k];
    const bad = extendsChain(heads, cp);
    if (bad) throw new AuditError({ checkpoint: k + 1, reason: bad.reason, kind: bad.kind });
    if (!(await verifySig(nodeKey, checkpointMessage(cp, nodeKey.raw), cp.signature))) {
      throw new AuditError({ checkpoint: k + 1, reason: "bad signature" });
    }
    if (latest === null || cp.entry_count >= BigInt(rep.signed_entries)) {
      rep.signed_entries = Number(cp.entry_count);
      latest = cp;
    }
  }
  rep.unsigned_entries = rep.entries - rep.signed_entries;
  rep.head_signed = latest !== null && rep.unsigned_entries === 0;
  if (latest) rep.latest_checkpoint = pinOf(doc.node_id, latest);
  if (pin) {
    const bad = extendsChain(heads, pin);
    if (bad) throw new AuditError({ reason: "pinned checkpoint " + bad.reason, kind: bad.kind });
    rep.pins = 1;
    rep.pinned_entries = Number(pin.entry_count);
  }
  const seen = new Set();
  for (const b of doc.budgets) {
    const a = chain.get(b.name);
    if (!a) throw new AuditError({ budget: b.name, reason: "budget has no creation entry" });
    if (seen.has(b.name)) throw new AuditError({ budget: b.name, reason: "budget listed twice" });
    if (b.total_micro_epsilon !== a.total) {
      throw new AuditError({ budget: b.name, reason: `total ε=${formatEpsilon(b.total_micro_epsilon)} differs from its creation entry's ε=${formatEpsilon(a.total)}` });
    }
    if (b.spent_micro_epsilon !== a.spent) {
      throw new AuditError({ budget: b.name, reason: `spent ε=${formatEpsilon(b.spent_micro_epsilon)} differs from the sum of its entries ε=${formatEpsilon(a.spent)}` });
    }
    seen.add(b.name);
    rep.budgets.push({ name: b.name, total_micro_epsilon: Number(b.total_micro_epsilon), spent_micro_epsilon: Number(b.spent_micro_epsilon) });
  }
  for (const name of chain.keys()) {
    if (!seen.has(name)) throw new AuditError({ budget: name, reason: "budget in the chain is missing from the budgets table" });
  }
  return rep;
}

// pinOf is the pin of a checkpoint: its entry count, time and the text of
// its pin file (dp.Pin's JSON, integers written exactly), which
// decodePin reads back.
function pinOf(nodeID, cp) {
  const text = `{"format": ${JSON.stringify(PIN_FORMAT)}, "node_id": ${JSON.stringify(nodeID)}, ` +
    `"entry_count": ${cp.entry_count}, "head_hash": "${toHex(cp.head_hash)}", ` +
    `"time_unix_micro": ${cp.time_unix_micro}, "signature": "${toHex(cp.signature)}"}`;
  return { entry_count: Number(cp.entry_count), time_unix_micro: Number(cp.time_unix_micro), head_hash: toHex(cp.head_hash), text };
}

// verifyText decodes and verifies an export's text: {report} on success,
// {error: {message, seq, checkpoint, budget, reason, kind, decode}} on
// failure. pinText is a stored pin's JSON, or "".
export async function verifyText(text, nodeKeyHex, pinText = "") {
  try {
    const nodeKey = await importNodeKey(nodeKeyHex);
    const pin = pinText ? decodePin(pinText) : null;
    return { report: await verify(decodeExport(text), nodeKey, pin) };
  } catch (err) {
    const e = err instanceof AuditError ? err : { seq: 0, checkpoint: 0, budget: "", reason: err.message, kind: "" };
    return {
      error: {
        message: err.message, seq: e.seq, checkpoint: e.checkpoint, budget: e.budget, reason: e.reason, kind: e.kind,
        decode: err instanceof DecodeError,
      },
    };
  }
}
