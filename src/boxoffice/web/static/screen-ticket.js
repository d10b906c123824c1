// The ticket just bought; and "my tickets": every reservation of this visit, the
// points history, and handing a paid ticket back.
import { api, newKey } from "./api.js";
import { $, confirmed, el, facts, ledgerTable, problemText, reservationTable, showNotice } from "./dom.js";
import { dateTime, points, t } from "./i18n.js";
import { save, show, state } from "./fan-state.js";
import { access } from "./session.js";
import { LEDGER_CHANGED, renderBalance } from "./wallet.js";

const REFUND_REFUSED = { refund_closed: "refundClosed", already_refunded: "alreadyRefunded", not_paid: "notPaid" };

// A charge or a payment elsewhere on the page: the open list is read again.
document.addEventListener(LEDGER_CHANGED, () => {
  if (!$("mine").hidden) loadMine();
});

export function showTicket() {
  show("ticket", { focus: true });
  renderTicket();
}

function renderTicket() {
  const k = state.ticket;
  facts($("ticket-facts"), [
    [t("concert"), k.concertTitle],
    [t("date"), dateTime(k.concertAt)],
    [t("seat"), String(k.seatNumber)],
    [t("price"), points(k.price)],
    [t("paidAt"), dateTime(k.paidAt)],
    [t("status"), t(k.refunded ? "statusREFUNDED" : "statusCONFIRMED")],
    [t("remaining"), points(k.balance)],
  ]);
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
    const status = (r) => el("span", {}, t(`status${r.status}`), ...(r.status === "CONFIRMED" ? [el("br"), refundButton(r)] : []));
    $("mine-list").replaceChildren(reservationTable(mine, status));
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
    "aria-label": t("refundLabel", { title: r.concertTitle, number: r.seatNumber }),
    onclick: () => refund(r),
  });
}

/** Hand a paid ticket back, after a confirmation. One Idempotency-Key per ticket, kept
 * until the server has answered, so a retry after a lost answer refunds once. */
async function refund(r) {
  const question = t("confirmRefund", {
    title: r.concertTitle,
    date: dateTime(r.concertAt),
    number: r.seatNumber,
    price: points(r.price),
  });
  if (!(await confirmed(question))) return;
  const key = (state.refundKeys[r.reservationId] ||= newKey());
  save();
  try {
    const done = await api.refund(access, r.reservationId, key);
    renderBalance(done.balance);
    if (state.ticket?.reservationId === r.reservationId) {
      // The card of the ticket just bought says it is refunded, and the balance now.
      Object.assign(state.ticket, { refunded: true, balance: done.balance });
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
