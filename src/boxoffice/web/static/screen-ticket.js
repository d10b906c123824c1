// The tickets a fan can show: each seat a card (booking number, concert, venue, the
// venue's time, section, row, seat, grade, price, status) that prints on its own. The
// seats just bought; and "my tickets": every reservation of this visit, the points
// history, and handing a paid ticket back.
import { api, newKey } from "./api.js";
import { $, bookingNo, confirmed, el, facts, HERE, ledgerTable, problemText, showNotice, venueTime } from "./dom.js";
import { points, t } from "./i18n.js";
import { save, show, state } from "./fan-state.js";
import { access } from "./session.js";
import { LEDGER_CHANGED, renderBalance } from "./wallet.js";

const REFUND_REFUSED = { refund_closed: "refundClosed", already_refunded: "alreadyRefunded", not_paid: "notPaid" };

// A charge or a payment elsewhere on the page: the open list is read again.
document.addEventListener(LEDGER_CHANGED, () => {
  if (!$("mine").hidden) loadMine();
});

const seatOf = (r) => r.label ?? String(r.seatNumber);

/** One seat's ticket; a field an older answer lacks is left out. */
function ticketCard(r, status, ...actions) {
  const no = bookingNo(r);
  const pairs = [
    ["venueLabel", r.venue],
    ["date", venueTime(r.concertAt, r.timeZone)],
    ["section", r.section],
    ["row", r.row],
    ["seat", seatOf(r)],
    ["grade", r.grade],
    ["price", points(r.price)],
  ].filter(([, value]) => value != null);
  const card = el(
    "article",
    { class: "ticket-card", "data-id": r.reservationId, "aria-label": `${t("bookingNo")} ${no}` },
    el(
      "p",
      { class: "row" },
      el("strong", { class: "grow", "data-field": "booking", text: no }),
      el("span", { class: "stamp", "data-field": "status", "data-status": status, text: t(`status${status}`) }),
    ),
    el("h3", { text: r.concertTitle }),
    el("dl", {}, ...pairs.map(([key, value]) => el("div", {}, el("dt", { text: t(key) }), el("dd", { "data-field": key, text: value })))),
  );
  const print = status === "CONFIRMED" && el("button", { type: "button", class: "link", text: t("print"), onclick: () => printCard(card) });
  if (print || actions.some(Boolean)) card.append(el("p", { class: "row actions" }, print || null, ...actions));
  return card;
}

/** Print this card alone (style.css, @media print). */
function printCard(card) {
  for (const other of document.querySelectorAll(".printing")) other.classList.remove("printing");
  card.classList.add("printing");
  addEventListener("afterprint", () => card.classList.remove("printing"), { once: true });
  print();
}

export function showTicket() {
  show("ticket", { focus: true });
  renderTicket();
}

const seatsBought = () => state.ticket.reservations ?? [state.ticket];

function renderTicket() {
  const k = state.ticket;
  const paid = el("dl", { class: "facts" });
  facts(paid, [
    [t("paidAt"), venueTime(k.paidAt, HERE)],
    [t("remaining"), points(k.balance)],
  ]);
  $("ticket-facts").replaceChildren(
    ...seatsBought().map((s) => ticketCard({ orderId: k.orderId, ...s }, s.status === "REFUNDED" ? "REFUNDED" : "CONFIRMED")),
    paid,
  );
}

export async function toggleMine() {
  const panel = $("mine");
  panel.hidden = !panel.hidden;
  $("mine-toggle").setAttribute("aria-expanded", String(!panel.hidden));
  $("mine-toggle").textContent = t(panel.hidden ? "mineShow" : "mineHide");
  if (!panel.hidden) {
    $("mine-title").focus();
    await loadMine();
  }
}

/** Every reservation of the fan, newest first, from whichever device they bought on. */
export async function loadMine() {
  try {
    const { items: mine } = await api.mine(access);
    $("mine-list").replaceChildren(
      ...(mine.length
        ? mine.map((r) => ticketCard(r, r.status, r.status === "CONFIRMED" ? refundButton(r) : null))
        : [el("p", { class: "muted", text: t("mineEmpty") })]),
    );
    const { items } = await api.ledger(access);
    if (items.length) renderBalance(items[0].balanceAfter); // newest first: the balance now
    $("ledger").replaceChildren(ledgerTable(items));
  } catch (problem) {
    showNotice(problemText(problem));
  }
}

function refundButton(r) {
  return el("button", {
    type: "button",
    class: "link",
    text: t("refund"),
    "aria-label": t("refundLabel", { title: r.concertTitle, number: seatOf(r) }),
    onclick: () => refund(r),
  });
}

/** Hand a paid ticket back, after a confirmation. One Idempotency-Key per ticket, kept
 * until the server has answered, so a retry after a lost answer refunds once. */
async function refund(r) {
  const question = t("confirmRefund", {
    title: r.concertTitle,
    date: venueTime(r.concertAt, r.timeZone),
    number: seatOf(r),
    price: points(r.price),
  });
  if (!(await confirmed(question))) return;
  const key = (state.refundKeys[r.reservationId] ||= newKey());
  save();
  try {
    const done = await api.refund(access, r.reservationId, key);
    renderBalance(done.balance);
    const bought = state.ticket && seatsBought().find((s) => s.reservationId === r.reservationId);
    if (bought) {
      // The card of the ticket just bought says it is refunded, and the balance now.
      bought.status = "REFUNDED";
      state.ticket.balance = done.balance;
      renderTicket();
    }
    showNotice(t("refunded", { price: points(done.amount), balance: points(done.balance) }), "ok");
  } catch (problem) {
    if (problem.status === 0 || problem.status === 503) return showNotice(problemText(problem));
    showNotice(REFUND_REFUSED[problem.code] ? t(REFUND_REFUSED[problem.code]) : problemText(problem));
  }
  delete state.refundKeys[r.reservationId];
  save();
  await loadMine();
}
