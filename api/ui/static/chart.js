// chart.js: small line and step charts drawn as plain SVG.

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, text = "") {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text) e.textContent = text;
  return e;
}

// lineChart returns an <svg> of series [{label, points: [[x, y], …], step,
// dashed}] over a shared scale. Options: yMax (at least this), xFormat and
// yFormat (tick labels), title (for screen readers). It scales to its
// container's width (viewBox).
export function lineChart(series, { yMax = 0, xFormat = String, yFormat = String, title = "" } = {}) {
  const W = 480, H = 200, L = 52, R = 12, T = 12, B = 28;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  let x0 = Math.min(...xs), x1 = Math.max(...xs);
  if (!isFinite(x0)) { x0 = 0; x1 = 1; }
  if (x1 === x0) x1 = x0 + 1;
  const y1 = Math.max(yMax, ...ys, 0) || 1;
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => T + (1 - y / y1) * (H - T - B);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img" });
  if (title) svg.append(el("title", {}, title));
  for (const f of [0, 0.5, 1]) {
    const y = sy(y1 * f);
    svg.append(el("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid" }));
    svg.append(el("text", { x: L - 4, y: y + 4, class: "tick", "text-anchor": "end" }, yFormat(y1 * f)));
  }
  svg.append(el("text", { x: L, y: H - 8, class: "tick" }, xFormat(x0)));
  svg.append(el("text", { x: W - R, y: H - 8, class: "tick", "text-anchor": "end" }, xFormat(x1)));
  series.forEach((s, k) => {
    if (s.points.length === 0) return;
    let d = "";
    s.points.forEach(([x, y], j) => {
      if (j === 0) d += `M${sx(x)},${sy(y)}`;
      else if (s.step) d += `H${sx(x)}V${sy(y)}`;
      else d += `L${sx(x)},${sy(y)}`;
    });
    svg.append(el("path", { d, class: `series s${k % 6}${s.dashed ? " dashed" : ""}` }));
    if (!s.dashed) {
      for (const [x, y] of s.points) svg.append(el("circle", { cx: sx(x), cy: sy(y), r: 2.5, class: `dot s${k % 6}` }));
    }
  });
  const legend = el("g", { class: "legend" });
  series.forEach((s, k) => legend.append(el("text", { x: L + 6 + k * 130, y: T + 10, class: `s${k % 6}` }, s.label)));
  svg.append(legend);
  return svg;
}
