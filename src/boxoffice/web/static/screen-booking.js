// Let in: the concert's dates, the seat map of the chosen one (read again every few
// seconds while on screen), and picking a seat, which puts it on hold.
import { api } from "./api.js";
import { $, el } from "./dom.js";
import { dateTime, t } from "./i18n.js";
import { renderSeats } from "./seatmap.js";
import { after, onScreen, save, show, state, stop } from "./fan-state.js";
import { holdingOne, showHold } from "./screen-hold.js";
import { onGatedProblem } from "./screen-line.js";

const SEAT_REFRESH_MS = 5_000;
// Seats the server just refused us: shown HELD for as long as a seat map may lag
// the database (BOXOFFICE_SEAT_MAP_CACHE_MS, at most a second), even if one read from
// such a cache still says AVAILABLE.
const taken = new Map();
const TAKEN_MS = 1_500;
let seatMap = null;

export function forgetSeats() {
  seatMap = null;
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
    const { schedules } = await api.schedules(state.line.token, state.line.concertId);
    const open = schedules.filter((s) => s.availableSeats > 0);
    $("dates").replaceChildren(
      ...(open.length
        ? open.map((s) =>
            el(
              "li",
              {},
              el("button", {
                type: "button",
                class: "date",
                "aria-pressed": String(s.scheduleId === state.line.scheduleId),
                "data-schedule-id": s.scheduleId,
                text: `${dateTime(s.concertAt)} · ${t("seatsLeft", { n: s.availableSeats })}`,
                onclick: () => pickDate(s.scheduleId),
              }),
            ),
          )
        : [el("li", { class: "muted", text: t("noDates") })]),
    );
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
    seatMap = await api.seats(state.line.token, state.line.concertId, state.line.scheduleId);
    renderSeatMap();
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

function renderSeatMap() {
  if (!seatMap) return;
  $("seatmap").hidden = false;
  $("seatmap-title").textContent = t("seatMapTitle", { date: dateTime(seatMap.concertAt) });
  const now = Date.now();
  const seats = seatMap.seats.map((seat) =>
    seat.status === "AVAILABLE" && taken.get(seat.seatId) > now ? { ...seat, status: "HELD" } : seat,
  );
  renderSeats($("seats"), seats, pickSeat);
}

async function pickSeat(seat) {
  if (holdingOne()) return;
  $("seats").setAttribute("aria-busy", "true");
  try {
    const reservation = await api.hold(state.line.token, seatMap.scheduleId, seat.seatId);
    state.hold = { reservationId: reservation.reservationId };
    if (!state.reservations.includes(reservation.reservationId)) {
      state.reservations.push(reservation.reservationId);
    }
    save();
    showHold(reservation);
  } catch (problem) {
    if (problem.code === "seat_unavailable") {
      taken.set(seat.seatId, Date.now() + TAKEN_MS);
      $("seat-note").textContent = t("seatTaken", { number: seat.seatNumber });
      $("seat-note").hidden = false;
      await loadSeats();
    } else {
      onGatedProblem(problem);
    }
  } finally {
    $("seats").removeAttribute("aria-busy");
  }
}
