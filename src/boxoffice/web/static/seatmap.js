// The seat map: a grid of seat buttons, one tab stop, arrow keys to move inside.
// State is told by pattern and text as well as colour (see style.css .seat).
import { el } from "./dom.js";
import { number, points, t } from "./i18n.js";

const STATE_TEXT = { AVAILABLE: "seatAvailable", HELD: "seatHeld", SOLD: "seatSold" };
const COLUMNS = 10;

export function seatLabel(seat) {
  return t("seatLabel", {
    number: seat.seatNumber,
    price: points(seat.price),
    state: t(STATE_TEXT[seat.status]),
  });
}

/** Draw seats into container; onPick(seat) is called for an available seat. */
export function renderSeats(container, seats, onPick) {
  const focused = document.activeElement?.dataset?.seatId;
  const buttons = seats.map((seat) => {
    const open = seat.status === "AVAILABLE";
    return el(
      "button",
      {
        type: "button",
        class: `seat ${seat.status.toLowerCase()}`,
        "data-seat-id": seat.seatId,
        "data-seat-number": seat.seatNumber,
        "data-status": seat.status,
        "aria-label": seatLabel(seat),
        "aria-disabled": open ? null : "true",
        tabindex: "-1",
        onclick: () => open && onPick(seat),
      },
      el("span", { class: "seat-number", text: String(seat.seatNumber) }),
      el("span", { class: "seat-price", text: number(seat.price) }),
    );
  });
  container.style.setProperty("--columns", String(Math.min(COLUMNS, seats.length || 1)));
  container.replaceChildren(...buttons);
  const start =
    buttons.find((b) => b.dataset.seatId === focused) ||
    buttons.find((b) => b.dataset.status === "AVAILABLE") ||
    buttons[0];
  if (start) {
    start.tabIndex = 0;
    if (focused) start.focus();
  }
  container.onkeydown = (event) => move(event, buttons, container);
}

function move(event, buttons, container) {
  const index = buttons.indexOf(document.activeElement);
  if (index < 0) return;
  // As many columns as the layout shows (fewer on a phone).
  const columns = getComputedStyle(container).gridTemplateColumns.split(" ").length || COLUMNS;
  const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns }[event.key];
  let next = index;
  if (step !== undefined) next = Math.min(buttons.length - 1, Math.max(0, index + step));
  else if (event.key === "Home") next = 0;
  else if (event.key === "End") next = buttons.length - 1;
  else return;
  event.preventDefault();
  buttons[index].tabIndex = -1;
  buttons[next].tabIndex = 0;
  buttons[next].focus();
}
