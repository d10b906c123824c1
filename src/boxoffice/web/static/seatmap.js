// The venue as its plan draws it, fixed in geometry, panned and zoomed (a phone never
// puts seat 6 under seat 1). One tab stop; arrows: the next seat, or a line up or down.
import { el } from "./dom.js";
import { points, t } from "./i18n.js";

const STATE_TEXT = { AVAILABLE: "seatAvailable", HELD: "seatHeld", SOLD: "seatSold" };
const WRAP = 10; // the simple form's one long row, ten seats a line
const COLOURS = ["#6a3d9a", "#b2182b", "#2166ac", "#a85207", "#1b7837", "#555"];

/** The simple form (one section, row and grade): seats go by number. */
export const plain = (seats) => new Set(seats.map((s) => `${s.section}|${s.row}|${s.grade}`)).size < 2;
export const seatName = (s, simple) => (simple ? String(s.seatNumber) : `${s.section} ${s.label}`);

/** Into legend, each grade's colour, price and seats left; into box, the sections in
 * plan order, each row named at its left. onPick(seat) for an open seat; picked (a Map
 * by seatId; null when a tap holds at once) marks the chosen seats pressed. */
export function renderSeats(legend, box, map, picked, onPick) {
  const simple = plain(map.seats);
  const grades = map.grades || [];
  const colour = new Map(grades.map((g, i) => [g.grade, grades.length > 1 && COLOURS[i % 6]]));
  const paint = (node, grade) => colour.get(grade) && node.style.setProperty("--g", colour.get(grade));
  legend.replaceChildren(
    ...grades.map((g) => {
      const key = el("span", { class: "grade-key", text: t("gradeKey", { ...g, price: points(g.price), n: g.availableSeats }) });
      paint(key, g.grade);
      return key;
    }),
  );
  const focused = document.activeElement?.dataset?.seatId;
  const sections = new Map();
  for (const s of map.seats) {
    const rows = sections.get(s.section) ?? sections.set(s.section, new Map()).get(s.section);
    (rows.get(s.row) ?? rows.set(s.row, []).get(s.row)).push(s);
  }
  const button = (s) => {
    const open = s.status === "AVAILABLE";
    const state = t(STATE_TEXT[s.status]);
    const b = el("button", {
      type: "button",
      class: `seat ${s.status.toLowerCase()}`,
      "data-seat-id": s.seatId,
      "data-seat-number": s.seatNumber,
      "data-status": s.status,
      "aria-label": t(simple ? "seatLabel" : "seatLabelPlan", { ...s, number: s.seatNumber, price: points(s.price), state }),
      "aria-pressed": picked && String(picked.has(s.seatId)),
      "aria-disabled": open ? null : "true",
      tabindex: "-1",
      text: String(s.label ?? s.seatNumber).split("-").pop(),
      onclick: () => open && onPick(s),
    });
    paint(b, s.grade);
    return b;
  };
  box.replaceChildren(
    ...[...sections].map(([name, rows]) =>
      el("div", { class: "block" }, name == null ? null : el("h4", { text: name }), ...[...rows].map(([row, seats]) => {
        const line = el("div", { class: "line" }, ...seats.map(button));
        line.style.setProperty("--n", simple ? Math.min(WRAP, seats.length) : seats.length);
        return el("div", { class: "seat-row" }, el("span", { class: "row-name", text: row ?? "" }), line);
      })),
    ),
  );
  const buttons = [...box.querySelectorAll(".seat")];
  const start = buttons.find((b) => b.dataset.seatId === focused) || buttons.find((b) => b.dataset.status === "AVAILABLE") || buttons[0];
  if (start) {
    start.tabIndex = 0;
    if (focused) start.focus({ preventScroll: true });
  }
  box.onkeydown = (event) => move(event, buttons);
}

const centre = (b, r = b.getBoundingClientRect()) => [r.left + r.width / 2, r.top + r.height / 2];

function move(event, buttons) {
  const from = document.activeElement;
  const i = buttons.indexOf(from);
  const { key } = event;
  let to = { ArrowRight: buttons[i + 1], ArrowLeft: buttons[i - 1], Home: buttons[0], End: buttons.at(-1) }[key];
  const vertical = key === "ArrowDown" || key === "ArrowUp";
  if (i < 0 || !(to || vertical)) return;
  event.preventDefault();
  if (vertical) {
    // The nearest line below (above), then the nearest seat across it.
    const [x, y] = centre(from);
    let best = Infinity;
    for (const b of buttons) {
      const [bx, by] = centre(b);
      const dy = key === "ArrowDown" ? by - y : y - by;
      const score = Math.round(dy) * 1e4 + Math.abs(bx - x);
      if (dy > 1 && score < best) [best, to] = [score, b];
    }
  }
  if (!to) return;
  from.tabIndex = -1;
  to.tabIndex = 0;
  to.focus({ preventScroll: true });
}

/** Pan (drag) and zoom (buttons, wheel, pinch) plane in view, which clips it: only
 * the plane's transform changes, never its layout. */
export function panZoom(view, plane) {
  const at = { s: 1, x: 0, y: 0, min: 0.2 };
  const apply = () => {
    // Smaller than the view: centred; larger: no edge inside it.
    const place = (v, room) => (room >= 0 ? room / 2 : Math.min(0, Math.max(room, v)));
    at.x = place(at.x, view.clientWidth - plane.offsetWidth * at.s);
    at.y = place(at.y, view.clientHeight - plane.offsetHeight * at.s);
    plane.style.transform = `translate(${at.x}px,${at.y}px) scale(${at.s})`;
  };
  const zoom = (by, cx = view.clientWidth / 2, cy = view.clientHeight / 2) => {
    const s = Math.min(3, Math.max(at.min, at.s * by));
    at.x = cx - ((cx - at.x) * s) / at.s;
    at.y = cy - ((cy - at.y) * s) / at.s;
    at.s = s;
    apply();
  };
  const inView = ([x, y], box = view.getBoundingClientRect()) => [x - box.left, y - box.top];
  const down = new Map();
  let moved = 0;
  const on = (type, run, options) => view.addEventListener(type, run, options);
  on("pointerdown", (e) => {
    moved = 0;
    down.set(e.pointerId, [e.clientX, e.clientY]);
  });
  on("pointermove", (e) => {
    const was = down.get(e.pointerId);
    if (!was) return;
    const now = [e.clientX, e.clientY];
    const other = [...down].find(([id]) => id !== e.pointerId)?.[1];
    if (other) {
      const gap = (p) => Math.hypot(p[0] - other[0], p[1] - other[1]) || 1;
      zoom(gap(now) / gap(was), ...inView([(now[0] + other[0]) / 2, (now[1] + other[1]) / 2]));
      moved = 99;
    } else {
      at.x += now[0] - was[0];
      at.y += now[1] - was[1];
      moved += Math.abs(now[0] - was[0]) + Math.abs(now[1] - was[1]);
      if (moved > 6) view.setPointerCapture(e.pointerId);
      apply();
    }
    down.set(e.pointerId, now);
  });
  for (const type of ["pointerup", "pointercancel"]) on(type, (e) => down.delete(e.pointerId));
  on("click", (e) => moved > 6 && e.stopPropagation(), true); // a drag picks no seat
  on("wheel", (e) => {
    e.preventDefault();
    zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15, ...inView([e.clientX, e.clientY]));
  }, { passive: false });
  // A seat reached by keyboard is brought into view; the clip itself never scrolls.
  on("scroll", () => view.scrollTo(0, 0));
  on("focusin", (e) => {
    const v = view.getBoundingClientRect();
    const r = e.target.getBoundingClientRect();
    at.x += Math.max(0, v.left - r.left + 8) - Math.max(0, r.right - v.right + 8);
    at.y += Math.max(0, v.top - r.top + 8) - Math.max(0, r.bottom - v.bottom + 8);
    apply();
  });
  return {
    zoom,
    /** The whole width in view, the stage at the top. */
    fit() {
      at.min = at.s = Math.min(1, view.clientWidth / plane.offsetWidth) || 1;
      view.style.height = `${Math.min(plane.offsetHeight * at.s + 2, innerHeight * 0.7)}px`;
      at.y = 0;
      apply();
    },
  };
}
