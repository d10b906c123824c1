// The fan's points: the balance on screen and the charge buttons.
import { api, newKey } from "./api.js";
import { $, el, problemText, showNotice } from "./dom.js";
import { points, t } from "./i18n.js";
import { save, state } from "./fan-state.js";
import { offerSave, signOut } from "./screen-signin.js";
import { access } from "./session.js";

const CHARGE_AMOUNTS = [10_000, 50_000, 100_000];
let charging = false;

export async function refreshBalance() {
  try {
    const wallet = await api.wallet(access);
    renderBalance(wallet.balance);
    return wallet.balance;
  } catch (problem) {
    if (problem.status === 401) return signOut();
    showNotice(problemText(problem));
    return null;
  }
}

/** Tell what shows the fan's tickets and points history that they have changed. */
export function ledgerChanged() {
  document.dispatchEvent(new CustomEvent(LEDGER_CHANGED));
}

export const LEDGER_CHANGED = "boxoffice:ledger";

export function renderBalance(balance) {
  const out = $("balance");
  out.dataset.balance = String(balance);
  out.textContent = points(balance);
  offerSave(balance);
}

export function renderCharges() {
  $("charges").replaceChildren(
    ...CHARGE_AMOUNTS.map((amount) =>
      el("button", {
        type: "button",
        class: "charge",
        "data-amount": amount,
        "aria-label": t("chargeLabel", { n: amount }),
        text: t("charge", { n: amount }),
        onclick: () => charge(amount),
      }),
    ),
  );
}

/** One charge per click: buttons are off while it is in flight, and a retry after a
 * lost answer sends the same Idempotency-Key, so the server applies it once. */
export async function charge(amount) {
  if (charging) return false;
  charging = true;
  for (const button of $("charges").children) button.disabled = true;
  const pending =
    state.pendingCharge?.amount === amount ? state.pendingCharge : { amount, key: newKey() };
  state.pendingCharge = pending;
  save();
  try {
    const result = await api.charge(access, amount, pending.key);
    state.pendingCharge = null;
    renderBalance(result.balance);
    showNotice(t("charged", { n: result.charged }), "ok");
    ledgerChanged();
    return true;
  } catch (problem) {
    if (problem.status !== 0 && problem.status !== 503) state.pendingCharge = null;
    showNotice(problemText(problem));
    return false;
  } finally {
    save();
    charging = false;
    for (const button of $("charges").children) button.disabled = false;
  }
}
