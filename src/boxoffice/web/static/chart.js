// A small line chart in inline SVG: no charting library for a few lines.
const NS = "http://www.w3.org/2000/svg";
const W = 600;
const H = 160;
const PAD = 24;

function node(tag, attrs) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  return n;
}

/** How a series is drawn: by its name's class in style.css, or, given a stroke (and a
 * dash pattern), by presentation attributes (no style attribute: the page's policy
 * forbids inline style), for series known only at run time. */
function look(s) {
  if (!s.stroke) return { class: s.name };
  const dash = s.dash ? { "stroke-dasharray": s.dash } : {};
  return { class: "series", "data-name": s.name, stroke: s.stroke, "stroke-width": 2, fill: "none", ...dash };
}

/** Draw series ({name, points: [{at, value}], stroke?, dash?}) over the last spanMs
 * into svg. */
export function drawChart(svg, series, { now, spanMs }) {
  const all = series.flatMap((s) => s.points.map((p) => p.value));
  const top = Math.max(1, ...all);
  const x = (at) => PAD + ((at - (now - spanMs)) / spanMs) * (W - 2 * PAD);
  const y = (v) => H - PAD - (v / top) * (H - 2 * PAD);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren(
    node("line", { class: "axis", x1: PAD, y1: H - PAD, x2: W - PAD, y2: H - PAD }),
    node("line", { class: "axis", x1: PAD, y1: PAD, x2: PAD, y2: H - PAD }),
    Object.assign(node("text", { x: 2, y: PAD }), { textContent: String(top) }),
    Object.assign(node("text", { x: 2, y: H - PAD }), { textContent: "0" }),
    ...series.map((s) =>
      node("polyline", {
        ...look(s),
        points: s.points.map((p) => `${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`).join(" "),
      }),
    ),
  );
}
