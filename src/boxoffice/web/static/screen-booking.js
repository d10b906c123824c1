// Let in: the concert's dates, the chosen one's seat map (read again every few seconds
// on screen), and seats: with one wanted a tap holds it; with more, the fan picks them,
// sees the total, and holds them as one order.
import { api } from "./api.js";
import { $, el, venueTime } from "./dom.js";
import { points, t } from "./i18n.js";
import { panZoom, plain, renderSeats, seatName } from "./seatmap.js";
import { after, onScreen, save, show, state, stop } from "./fan-state.js";
import { holdingOne, showHold } from "./screen-hold.js";
import { onGatedProblem } from "./screen-line.js";

const SEAT_REFRESH_MS = 5_000;
let most = 4; // seats a fan may hold at once: the seat map says (holdLimit)
// Seats just refused us show HELD for as long as a map may lag the database (SEAT_MAP_
// CACHE_MS, at most a second), even if a read from such a cache says AVAILABLE.
const taken = new Map();
const TAKEN_MS = 1_500;
let seatMap = null;
let count = 1; // seats wanted
const picked = new Map(); // seatId -> seat
let view = null;

export function forgetSeats() {
  seatMap = null;
  picked.clear();
}

export function admitted() {
  stop("poll", "opening");
  const first = onScreen() !== "booking";
  show("booking", { focus: first });
  document.title = t("titleAdmitted");
  if (first) loadDates();
}

export async function loadDates() {
  try {
    const { schedules, timeZone } = await api.schedules(state.line.token, state.line.concertId);
    const open = schedules.filter((s) => s.availableSeats > 0);
    const date = (s) =>
      el("button", {
        type: "button",
        class: "date",
        "aria-pressed": String(s.scheduleId === state.line.scheduleId),
        "data-schedule-id": s.scheduleId,
        text: `${venueTime(s.concertAt, timeZone)} · ${t("seatsLeft", { n: s.availableSeats })}`,
        onclick: () => pickDate(s.scheduleId),
      });
    $("dates").replaceChildren(
      ...(open.length ? open.map((s) => el("li", {}, date(s))) : [el("li", { class: "muted", text: t("noDates") })]),
    );
    renderCount();
    const chosen = open.find((s) => s.scheduleId === state.line.scheduleId);
    if (chosen) loadSeats();
  } catch (problem) {
    onGatedProblem(problem);
  }
}

function pickDate(scheduleId) {
  state.line.scheduleId = scheduleId;
  save();
  for (const b of $("dates").querySelectorAll("button")) {
    b.setAttribute("aria-pressed", String(Number(b.dataset.scheduleId) === scheduleId));
  }
  $("seat-note").hidden = true;
  loadSeats();
}

export async function loadSeats() {
  stop("seats");
  if (!state.line?.scheduleId) return;
  try {
    const before = seatMap?.scheduleId;
    seatMap = await api.seats(state.line.token, state.line.concertId, state.line.scheduleId);
    if (seatMap.holdLimit && seatMap.holdLimit !== most) {
      most = seatMap.holdLimit;
      count = Math.min(count, most);
      renderCount();
    }
    if (before !== seatMap.scheduleId) picked.clear();
    renderSeatMap(before !== seatMap.scheduleId);
    if (onScreen() === "booking") after("seats", loadSeats, SEAT_REFRESH_MS);
  } catch (problem) {
    onGatedProblem(problem);
  }
}

/** Read the seats again in ms, and from then on as usual. */
export function loadSeatsIn(ms) {
  stop("seats");
  after("seats", loadSeats, ms);
}

const note = (text) => {
  $("seat-note").textContent = text;
  $("seat-note").hidden = false;
};

const names = (seats) => seats.map((s) => seatName(s, plain(seatMap.seats))).join(", ");

function renderSeatMap(fresh = false) {
  if (!seatMap) return;
  $("seatmap").hidden = false;
  $("seatmap-title").textContent = t("seatMapTitle", { date: venueTime(seatMap.concertAt, seatMap.timeZone) });
  const now = Date.now();
  const seats = seatMap.seats.map((seat) =>
    seat.status === "AVAILABLE" && taken.get(seat.seatId) > now ? { ...seat, status: "HELD" } : seat,
  );
  // A chosen seat since taken by someone else is let go, and the fan told.
  const gone = seats.filter((s) => picked.has(s.seatId) && s.status !== "AVAILABLE");
  for (const s of gone) picked.delete(s.seatId);
  if (gone.length) note(t("seatsTaken", { seats: names(gone) }));
  renderSeats($("grades"), $("seats"), { ...seatMap, seats }, count > 1 && picked, pick);
  renderPicked();
  if (!view) {
    view = panZoom($("map"), $("plane"));
    $("zoom-in").onclick = () => view.zoom(1.25);
    $("zoom-out").onclick = () => view.zoom(0.8);
    $("hold-picked").onclick = () => picked.size && hold([...picked.values()]);
  }
  if (fresh) view.fit();
}

function renderCount() {
  const choose = (n) => {
    count = n;
    while (picked.size > n) picked.delete(picked.keys().next().value);
    renderCount();
    renderSeatMap();
  };
  $("count").replaceChildren(
    ...Array.from({ length: Math.min(most, 8) }, (_, i) => i + 1).map((n) =>
      el("button", { type: "button", "aria-pressed": String(n === count), text: n, onclick: () => choose(n) }),
    ),
  );
}

function renderPicked() {
  const seats = [...picked.values()];
  $("picked").hidden = count < 2;
  $("picked-list").replaceChildren(
    ...seats.map((s) => el("li", { text: t("seatLine", { ...s, price: points(s.price) }) })),
  );
  const total = seats.reduce((sum, s) => sum + s.price, 0);
  $("picked-total").textContent = t("pickedTotal", { n: seats.length, price: points(total) });
  $("hold-picked").disabled = !seats.length;
}

function pick(seat) {
  if (count < 2) return hold([seat]);
  if (picked.has(seat.seatId)) picked.delete(seat.seatId);
  else if (picked.size < count) picked.set(seat.seatId, seat);
  else return note(t("pickedAll", { n: count }));
  $("seat-note").hidden = true;
  renderSeatMap();
}

/** Hold the seats asked: one by itself, or several as an order. A refusal of taken
 * seats holds nothing: it names them (a lone seat's refusal names none: that seat),
 * and the others stay chosen. */
async function hold(asked) {
  if (holdingOne()) return;
  $("seats").setAttribute("aria-busy", "true");
  $("hold-picked").disabled = true;
  const [one] = asked;
  try {
    const h = await (asked.length > 1 || count > 1
      ? api.order(state.line.token, seatMap.scheduleId, asked.map((s) => s.seatId))
      : api.hold(state.line.token, seatMap.scheduleId, one.seatId));
    state.hold = h.reservations ? { orderId: h.orderId } : { reservationId: h.reservationId };
    for (const r of h.reservations ?? [h]) if (!state.reservations.includes(r.reservationId)) state.reservations.push(r.reservationId);
    save();
    picked.clear();
    showHold(h);
  } catch (problem) {
    if (problem.code !== "seat_unavailable") return onGatedProblem(problem);
    const { seatIds = [], seatNumbers = [] } = problem.body ?? {};
    const named = asked.filter((s) => seatIds.includes(s.seatId) || seatNumbers.includes(s.seatNumber));
    const lost = named.length ? named : asked;
    for (const s of lost) {
      taken.set(s.seatId, Date.now() + TAKEN_MS);
      picked.delete(s.seatId);
    }
    const alone = lost.length === 1 && plain(seatMap.seats);
    note(t(alone ? "seatTaken" : "seatsTaken", { number: names(lost), seats: names(lost) }));
    await loadSeats();
  } finally {
    $("seats").removeAttribute("aria-busy");
    $("hold-picked").disabled = !picked.size;
  }
}
