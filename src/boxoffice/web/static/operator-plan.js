// A date from a seat plan: grades, and sections whose rows are written a line for
// many ("A-D", 15 seats each, VIP); checked here, then by the server (docs/api.md).
import { $, el, facts } from "./dom.js";
import { points, t } from "./i18n.js";

const MAX_SEATS = 10_000;
const RANGE = /^(?:([A-Z])-([A-Z])|(\d+)-(\d+))$/i;

// Two floor sections (VIP up front, R behind) and a balcony (S, then A).
const row = (rows = "", seats = "", grade = "") => ({ rows, seats, grade });
const grades = [["VIP", "165000"], ["R", "143000"], ["S", "110000"], ["A", "88000"]].map(([grade, price]) => ({ grade, price }));
const sections = ["Floor A", "Floor B", "Balcony"].map((section, i) => ({
  section,
  rows: i < 2 ? [row("A-D", "15", "VIP"), row("E-H", "15", "R")] : [row("A-C", "20", "S"), row("D-F", "20", "A")],
}));

export function setUpPlan() {
  $("plan").addEventListener("input", showSummary);
  renderPlan();
}

/** Drawn again when a grade, section or line comes or goes, and in another language. */
export function renderPlan(focus) {
  // list[i][name]'s input; key names it for focus.
  const field = (list, i, name, label, more, key = name + i) =>
    el("input", { value: list[i][name], "aria-label": label, "data-focus": key, oninput: (e) => (list[i][name] = e.target.value), ...more });
  const remove = (list, i, label, after) =>
    list.length > 1 &&
    el("button", { type: "button", class: "link", text: t("planRemove"), "aria-label": `${t("planRemove")}: ${label}`, onclick: () => renderPlan(list.splice(i, 1) && after) });
  const add = (key, name, push) => el("button", { type: "button", text: t(key), "data-focus": name, onclick: () => renderPlan(push()) });
  const head = (...keys) => el("div", { class: "plan-line plan-head", "aria-hidden": "true" }, ...keys.map((k) => el("span", { text: t(k) })));
  const line = (...cells) => el("div", { class: "plan-line" }, ...cells);
  const num = { type: "number" };
  const grade = { list: "plan-grade-names", maxlength: 20 };
  const label = (key, n) => t(key, { n: n + 1 });

  $("plan-grades").replaceChildren(
    head("grade", "price"),
    ...grades.map((_, i) =>
      line(
        field(grades, i, "grade", label("planGradeName", i), { maxlength: 20 }),
        field(grades, i, "price", label("planGradePrice", i), num),
        remove(grades, i, label("planGradeName", i), "add-grades"),
      ),
    ),
    add("planAddGrade", "add-grades", () => grades.push({ grade: "", price: "" }) && `grade${grades.length - 1}`),
  );
  $("plan-sections").replaceChildren(
    ...sections.map((s, i) =>
      el(
        "fieldset",
        { class: "plan-section" },
        el("legend", { text: label("planSection", i) }),
        el(
          "div",
          { class: "plan-name" },
          field(sections, i, "section", label("planSectionName", i), { maxlength: 40 }),
          remove(sections, i, label("planSection", i), "add-sections"),
        ),
        head("row", "planPerRow", "grade"),
        ...s.rows.map((_, j) =>
          line(
            field(s.rows, j, "rows", label("planRowsLabel", j), { placeholder: "A-D" }, `${i}rows${j}`),
            field(s.rows, j, "seats", label("planPerRowLabel", j), num, `${i}seats${j}`),
            field(s.rows, j, "grade", label("planRowGrade", j), grade, `${i}grade${j}`),
            remove(s.rows, j, label("planLine", j), `add-rows${i}`),
          ),
        ),
        add("planAddRows", `add-rows${i}`, () => s.rows.push(row()) && `${i}rows${s.rows.length - 1}`),
      ),
    ),
    add("planAddSection", "add-sections", () => sections.push({ section: "", rows: [row()] }) && `section${sections.length - 1}`),
  );
  if (focus) $("plan").querySelector(`[data-focus="${focus}"]`)?.focus();
  showSummary();
}

/** Row names from "A-D", "1-10", "A,B,C" or a mix; null if one is empty or a range
 * runs backwards. */
function rowNames(text) {
  const names = [];
  for (const part of text.split(",").map((p) => p.trim())) {
    const [, a, b, c, d] = RANGE.exec(part) ?? [];
    const [from, to] = a ? [a, b].map((x) => x.toUpperCase().charCodeAt(0)) : [Number(c), Number(d)];
    if (!part || to < from || to - from >= MAX_SEATS) return null;
    if (!(a || c)) names.push(part);
    for (let n = from; n <= to; n += 1) names.push(a ? String.fromCharCode(n) : String(n));
  }
  return names;
}

/** The plan as the API takes it, its seats in all and per grade; or the first
 * problem in it, in the page's words, with the field to fix. */
export function seatPlan() {
  const whole = (text, low, high) => /^\d+$/.test(text.trim()) && text >= low && text <= high;
  const seatsOf = new Map();
  const found = { grades: [], sections: [], seats: 0, seatsOf };
  const fail = (key, vars, name) => ({ ...found, problem: t(key, vars), input: $("plan").querySelector(`[data-focus="${name}"]`) });

  for (const [i, g] of grades.entries()) {
    const grade = g.grade.trim();
    if (!grade) return fail("planNoName", { what: t("planGradeName", { n: i + 1 }) }, `grade${i}`);
    if (seatsOf.has(grade)) return fail("planTwice", { what: grade }, `grade${i}`);
    seatsOf.set(grade, 0);
    if (!whole(g.price, 0, Number.MAX_SAFE_INTEGER)) return fail("planBadPrice", { grade }, `price${i}`);
    found.grades.push({ grade, price: Number(g.price) });
  }
  for (const [i, s] of sections.entries()) {
    const section = s.section.trim();
    if (!section) return fail("planNoName", { what: t("planSection", { n: i + 1 }) }, `section${i}`);
    if (found.sections.some((x) => x.section === section)) return fail("planTwice", { what: section }, `section${i}`);
    const rows = [];
    const seen = new Set();
    for (const [j, r] of s.rows.entries()) {
      const names = rowNames(r.rows);
      const at = { section, rows: r.rows.trim(), grade: r.grade.trim() };
      if (!names) return fail("planBadRows", at, `${i}rows${j}`);
      if (!whole(r.seats, 1, 1000)) return fail("planBadSeats", at, `${i}seats${j}`);
      if (!seatsOf.has(at.grade)) return fail("planUnknownGrade", at, `${i}grade${j}`);
      for (const row of names) {
        if (seen.has(row)) return fail("planTwice", { what: `${section}, ${row}` }, `${i}rows${j}`);
        seen.add(row);
        rows.push({ row, seats: Number(r.seats), grade: at.grade });
        seatsOf.set(at.grade, seatsOf.get(at.grade) + Number(r.seats));
        found.seats += Number(r.seats);
      }
    }
    found.sections.push({ section, rows });
  }
  return found.seats > MAX_SEATS ? fail("planTooMany", { n: found.seats }) : found;
}

/** Seats per grade and in all, and what they bring if all sell; and what is wrong. */
function showSummary() {
  const found = seatPlan();
  const worth = (g) => found.seatsOf.get(g.grade) * g.price;
  const line = (seats, amount) => `${t("planSeats", { n: seats })} · ${amount}`;
  facts($("plan-summary"), [
    ...found.grades.map((g) => [g.grade, line(found.seatsOf.get(g.grade), points(worth(g)))]),
    [t("total"), line(found.seats, t("planIfSold", { amount: points(found.grades.reduce((sum, g) => sum + worth(g), 0)) }))],
  ]);
  $("plan-problem").textContent = found.problem ?? "";
  $("plan-grade-names").replaceChildren(...found.grades.map((g) => el("option", { value: g.grade })));
}
