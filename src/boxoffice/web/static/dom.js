// Small DOM helpers shared by both pages.
import { t } from "./i18n.js";

export const $ = (id) => document.getElementById(id);

/** An element with attributes (on* become listeners) and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** A <dl> filled with [term, value] pairs. */
export function facts(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([term, value]) => [el("dt", { text: term }), el("dd", { text: value })]));
}

/** Words for a problem: its detail, never the raw body. */
export function problemText(problem) {
  if (problem?.status === 0) return t("offline", { n: 5 });
  return problem?.detail || t("unexpected");
}

export function showNotice(text, kind = "error") {
  const box = $("notice");
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = !text;
}
