// The hold of one seat or an order's seats: each seat, the total, one countdown by the
// server's clock, one Pay (or the charge that covers it), release, and the lapse.
import { api, newKey, serverNow } from "./api.js";
import { $, el, facts, venueTime } from "./dom.js";
import { clock, points, t } from "./i18n.js";
import { every, save, show, state, stop } from "./fan-state.js";
import { admitted, loadDates, loadSeatsIn } from "./screen-booking.js";
import { onGatedProblem } from "./screen-line.js";
import { showTicket } from "./screen-ticket.js";
import { charge, ledgerChanged, refreshBalance, renderBalance } from "./wallet.js";

const LAPSE_SETTLE_MS = 2_500;
let holding = null; // {orderId (null: one seat), heldUntil, total, reservations}

export const holdingOne = () => holding !== null;

export function forgetHold() {
  holding = null;
}

const seatOf = (r) => r.label ?? String(r.seatNumber);
const payKey = (h) => (h.orderId ? `o${h.orderId}` : h.reservations[0].reservationId);

/** A reservation (one seat) or an order, as the API answered it. */
export function showHold(hold) {
  stop("seats", "countdown");
  holding = hold.reservations ? hold : { orderId: null, heldUntil: hold.heldUntil, total: hold.price, reservations: [hold] };
  show("hold", { focus: true });
  renderHold();
  $("hold-lapsed").hidden = true;
  $("low-balance").hidden = true;
  $("pay").hidden = $("release").hidden = false;
  // On before the first tick: a hold that lapses at once must stop it (a tick after
  // the lapse found no hold and threw, leaving the timer stuck).
  every("countdown", tick, 250);
  tick();
  offerIfShort(holding);
}

/** A balance short of the total: the charge to cover it, not a Pay that fails. */
async function offerIfShort(h) {
  const balance = await refreshBalance();
  if (balance != null && balance < h.total && holding === h) await offerCharge(h, balance);
}

export function renderHold() {
  if (!holding) return;
  const h = holding;
  const [r] = h.reservations;
  $("hold-intro").textContent = h.orderId ? t("orderIntro", { n: h.reservations.length }) : t("holdIntro", { number: seatOf(r) });
  facts($("hold-facts"), [
    [t("concert"), r.concertTitle],
    ...(r.venue ? [[t("venueLabel"), r.venue]] : []),
    [t("date"), venueTime(r.concertAt, r.timeZone)],
    [t("total"), points(h.total)],
  ]);
  $("hold-seats").replaceChildren(
    ...h.reservations.map((s) => el("li", { text: t("seatLine", { ...s, label: seatOf(s), price: points(s.price) }) })),
  );
  $("pay").textContent = t("pay", { price: points(h.total) });
  $("release").textContent = t("release", { n: h.reservations.length });
}

/** Time left by the server's clock: the hold lapses at heldUntil on the server. */
function tick() {
  if (!holding) return stop("countdown");
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
  const h = holding;
  holding = null;
  state.hold = null;
  save();
  // The seat map comes back under the lapsed hold; it is read again once the server
  // has surely let the hold go too (our countdown may end a moment before its own).
  show("booking");
  $("hold").hidden = false;
  $("hold-lapsed").textContent = h?.orderId ? t("orderLapsed") : t("holdLapsed", { number: h && seatOf(h.reservations[0]) });
  $("hold-lapsed").hidden = false;
  $("pay").hidden = $("release").hidden = true;
  $("low-balance").hidden = true;
  loadDates().then(() => loadSeatsIn(LAPSE_SETTLE_MS));
}

export async function release() {
  const h = holding;
  if (!h) return;
  try {
    if (h.orderId) await api.releaseOrder(state.line?.token, h.orderId);
    else await api.release(state.line?.token, h.reservations[0].reservationId);
  } catch (problem) {
    if (problem.status !== 404) return onGatedProblem(problem);
  }
  stop("countdown");
  holding = null;
  state.hold = null;
  save();
  admitted();
  $("seat-note").textContent = h.orderId ? t("orderReleased") : t("released", { number: seatOf(h.reservations[0]) });
  $("seat-note").hidden = false;
}

export async function pay() {
  const h = holding;
  if (!h) return;
  $("pay").disabled = true;
  const key = (state.payKeys[payKey(h)] ||= newKey());
  save();
  try {
    const body = h.orderId ? { orderId: h.orderId } : { reservationId: h.reservations[0].reservationId };
    paid(h, await api.pay(state.line?.token, body, key));
  } catch (problem) {
    if (problem.code === "insufficient_balance") await offerCharge(h);
    else if (problem.code === "hold_expired") lapsed();
    else if (problem.code === "already_paid") await alreadyPaid(h);
    else onGatedProblem(problem);
  } finally {
    $("pay").disabled = false;
  }
}

function paid(h, payment) {
  stop();
  // A payment that leaves no live hold spends the queue token: the visit is over.
  state.ticket = {
    orderId: h.orderId,
    reservations: h.reservations.map((r) => ({ ...r, status: "CONFIRMED" })),
    paidAt: payment.paidAt,
    balance: payment.balance,
  };
  state.hold = null;
  state.line = null;
  delete state.payKeys[payKey(h)];
  holding = null;
  save();
  renderBalance(payment.balance);
  showTicket();
  ledgerChanged();
}

async function alreadyPaid(h) {
  const balance = await refreshBalance();
  paid(h, { paidAt: new Date(serverNow()).toISOString(), balance });
}

async function offerCharge(h, known = null) {
  const balance = known ?? (await refreshBalance());
  if (balance == null) return;
  const missing = Math.max(1, h.total - balance);
  const amount = Math.ceil(missing / 10_000) * 10_000;
  $("low-balance-text").textContent = t("lowBalance", { balance: points(balance), price: points(h.total) });
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
