// The hold: its countdown by the server's clock, releasing it, paying for it (with an
// offer to charge what is missing), and what happens when it lapses.
import { api, newKey, serverNow } from "./api.js";
import { $, facts } from "./dom.js";
import { clock, dateTime, points, t } from "./i18n.js";
import { every, save, show, state, stop } from "./fan-state.js";
import { admitted, loadDates, loadSeatsIn } from "./screen-booking.js";
import { onGatedProblem } from "./screen-line.js";
import { showTicket } from "./screen-ticket.js";
import { charge, ledgerChanged, refreshBalance, renderBalance } from "./wallet.js";

const LAPSE_SETTLE_MS = 2_500;
let holding = null; // the reservation on hold, as the API answered it

export const holdingOne = () => holding !== null;

export function forgetHold() {
  holding = null;
}

export function showHold(reservation) {
  stop("seats", "countdown");
  holding = reservation;
  show("hold", { focus: true });
  renderHold();
  $("hold-lapsed").hidden = true;
  $("low-balance").hidden = true;
  $("pay").hidden = $("release").hidden = false;
  tick();
  every("countdown", tick, 250);
  offerIfShort(reservation);
}

/** A balance short of the price is said at once, with the charge that covers it, in
 * place of a Pay that could only fail. */
async function offerIfShort(r) {
  const balance = await refreshBalance();
  if (balance != null && balance < r.price && holding === r) await offerCharge(r, balance);
}

export function renderHold() {
  if (!holding) return;
  const r = holding;
  $("hold-intro").textContent = t("holdIntro", { number: r.seatNumber });
  facts($("hold-facts"), [
    [t("concert"), r.concertTitle],
    [t("date"), dateTime(r.concertAt)],
    [t("seat"), String(r.seatNumber)],
    [t("price"), points(r.price)],
  ]);
  $("pay").textContent = t("pay", { price: points(r.price) });
}

/** Time left by the server's clock: the hold lapses at heldUntil on the server. */
function tick() {
  const left = Date.parse(holding.heldUntil) - serverNow();
  const seconds = Math.max(0, Math.ceil(left / 1000));
  const out = $("countdown");
  out.textContent = clock(seconds);
  out.dateTime = `PT${seconds}S`;
  out.dataset.seconds = String(seconds);
  if (left <= 0) lapsed();
}

function lapsed() {
  stop("countdown");
  const number = holding?.seatNumber;
  holding = null;
  state.hold = null;
  save();
  // The seat map comes back under the lapsed hold; it is read again once the server
  // has surely let the hold go too (our countdown may end a moment before its own).
  show("booking");
  $("hold").hidden = false;
  $("hold-lapsed").textContent = t("holdLapsed", { number });
  $("hold-lapsed").hidden = false;
  $("pay").hidden = $("release").hidden = true;
  $("low-balance").hidden = true;
  loadDates().then(() => loadSeatsIn(LAPSE_SETTLE_MS));
}

export async function release() {
  const r = holding;
  try {
    await api.release(state.line?.token, r.reservationId);
  } catch (problem) {
    if (problem.status !== 404) return onGatedProblem(problem);
  }
  stop("countdown");
  holding = null;
  state.hold = null;
  save();
  admitted();
  $("seat-note").textContent = t("released", { number: r.seatNumber });
  $("seat-note").hidden = false;
}

export async function pay() {
  const r = holding;
  if (!r) return;
  $("pay").disabled = true;
  const key = (state.payKeys[r.reservationId] ||= newKey());
  save();
  try {
    const payment = await api.pay(state.line?.token, r.reservationId, key);
    paid(r, payment);
  } catch (problem) {
    if (problem.code === "insufficient_balance") await offerCharge(r);
    else if (problem.code === "hold_expired") lapsed();
    else if (problem.code === "already_paid") await alreadyPaid(r);
    else onGatedProblem(problem);
  } finally {
    $("pay").disabled = false;
  }
}

function paid(r, payment) {
  stop();
  // A payment that leaves no live hold spends the queue token: the visit is over.
  state.ticket = {
    reservationId: r.reservationId,
    concertTitle: r.concertTitle,
    concertAt: r.concertAt,
    seatNumber: r.seatNumber,
    price: payment.amount,
    paidAt: payment.paidAt,
    balance: payment.balance,
  };
  state.hold = null;
  state.line = null;
  delete state.payKeys[r.reservationId];
  holding = null;
  save();
  renderBalance(payment.balance);
  showTicket();
  ledgerChanged();
}

async function alreadyPaid(r) {
  const balance = await refreshBalance();
  paid(r, { amount: r.price, paidAt: new Date(serverNow()).toISOString(), balance });
}

async function offerCharge(r, known = null) {
  const balance = known ?? (await refreshBalance());
  if (balance == null) return;
  const missing = Math.max(1, r.price - balance);
  const amount = Math.ceil(missing / 10_000) * 10_000;
  $("low-balance-text").textContent = t("lowBalance", { balance: points(balance), price: points(r.price) });
  const button = $("charge-and-pay");
  button.textContent = t("chargeAndPay", { n: amount });
  button.onclick = async () => {
    button.disabled = true;
    try {
      if (await charge(amount)) {
        $("low-balance").hidden = true;
        $("pay").hidden = false;
        await pay();
      }
    } finally {
      button.disabled = false;
    }
  };
  $("low-balance").hidden = false;
  $("pay").hidden = true; // one way on: charge and pay
}
