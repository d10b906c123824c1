// The fan's visit: sign in, charge, wait in line, pick seats, hold them, pay; and hand
// a ticket back. Each screen is a module of its own (screen-*.js, wallet.js); what
// they share is in fan-state.js. This one picks the screen to start on, redraws the
// one on screen in the other language, and wires the page's fixed buttons.
import { api, serverNow } from "./api.js";
import { $ } from "./dom.js";
import { embedded, listen } from "./embedded.js";
import { applyTexts, t, toggleLanguage } from "./i18n.js";
import { onScreen, save, show, state } from "./fan-state.js";
import { loadDates, loadSeats } from "./screen-booking.js";
import { showConcerts } from "./screen-concerts.js";
import { pay, release, renderHold, showHold } from "./screen-hold.js";
import { leave, poll, renderLine } from "./screen-line.js";
import { pickMode, saveAccount, signIn, signInFromSite, signOut, signOutHere } from "./screen-signin.js";
import { access, renew } from "./session.js";
import { loadMine, showTicket, toggleMine } from "./screen-ticket.js";
import { refreshBalance, renderCharges } from "./wallet.js";

/** Back to where the fan was: the ticket, a live hold, the line, or the concerts. */
async function route() {
  if (!state.user) return show("signin");
  if (state.ticket) return showTicket();
  if (state.hold) {
    try {
      const { orderId, reservationId } = state.hold;
      const r = await (orderId ? api.getOrder(access, orderId) : api.reservation(access, reservationId));
      if (r.status === "HELD" && Date.parse(r.heldUntil) > serverNow()) return showHold(r);
    } catch {
      // gone or not ours any more: carry on without it
    }
    state.hold = null;
    save();
  }
  if (state.line) {
    show("line");
    return poll();
  }
  return showConcerts();
}

function rerender() {
  applyTexts(document);
  renderCharges();
  pickMode();
  if (state.user) $("who").textContent = t("hello", { name: state.user.name });
  const current = onScreen();
  if (current === "line") renderLine();
  if (current === "booking") {
    document.title = t("titleAdmitted");
    loadDates();
  }
  if (current === "hold") renderHold();
  if (current === "ticket") showTicket();
  if (current === "concerts") showConcerts();
  if (state.user) refreshBalance();
  if (!$("mine").hidden) loadMine();
}

async function start() {
  applyTexts(document);
  renderCharges();
  pickMode();
  $("modes").addEventListener("click", (event) => pickMode(event.target.dataset.mode));
  $("signin-form").addEventListener("submit", async (event) => {
    if (await signIn(event)) route();
  });
  $("save-form").addEventListener("submit", saveAccount);
  $("signout").addEventListener("click", signOutHere);
  $("lang").addEventListener("click", async () => {
    await toggleLanguage();
    rerender();
  });
  $("mine-toggle").addEventListener("click", toggleMine);
  $("leave").addEventListener("click", leave);
  $("soldout-leave").addEventListener("click", leave);
  $("refresh-seats").addEventListener("click", loadSeats);
  $("pay").addEventListener("click", pay);
  $("release").addEventListener("click", release);
  $("buy-another").addEventListener("click", () => {
    state.ticket = null;
    save();
    showConcerts();
  });
  if (embedded) return startFramed();
  // A fan signed in before (a reload, a restart) is signed in again by the cookie.
  if (state.user && !(await renew())) signOut();
  if (state.user) refreshBalance();
  route();
}

/** In the ticketing site's frame: the site signs its fans in and out, and keeps their
 * accounts, so the page's own forms stay out of sight; each token it sends is used. */
function startFramed() {
  for (const id of ["signin", "signout", "save"]) $(id).style.display = "none";
  let routed = false;
  listen(async (token) => {
    if ((await signInFromSite(token)) || !routed) route();
    routed = true;
  });
}

start();
