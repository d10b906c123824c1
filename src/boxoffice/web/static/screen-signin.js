// Signing in (email and password), creating an account, or going on as a guest (a
// name); a guest saving their account; and signing out (the visit is forgotten here).
// In a frame of the ticketing site, the site's token signs the fan in (embedded.js).
import { api } from "./api.js";
import { $, problemText, showNotice } from "./dom.js";
import { t } from "./i18n.js";
import { forget, show, state, stop } from "./fan-state.js";
import { forgetSeats } from "./screen-booking.js";
import { forgetHold } from "./screen-hold.js";
import { forgetStatus } from "./screen-line.js";
import { access, endSession, signedIn, signedInBySite } from "./session.js";
import { refreshBalance, renderBalance } from "./wallet.js";

// {n}: Retry-After's seconds
const REFUSED = {
  invalid_credentials: "badCredentials",
  email_taken: "emailTaken",
  weak_password: "weakPassword",
  validation_error: "checkFields",
  rate_limited: "tooMany",
  busy: "busyTryAgain",
};
const FIELDS = { signin: ["email", "password"], signup: ["name", "email", "password"], guest: ["name"] };
const SUBMIT = { signin: "signInGo", signup: "signUpGo", guest: "signIn" };
let mode = "signin";

function refusal(problem) {
  if (problem.status === 0) return problemText(problem);
  const key = REFUSED[problem.code];
  return key ? t(key, { n: problem.retryAfter ?? 60 }) : t("unexpected");
}

export function pickMode(next = mode) {
  mode = next;
  for (const tab of $("modes").children) {
    tab.setAttribute("aria-selected", String(tab.dataset.mode === mode));
  }
  for (const id of ["name", "email", "password"]) {
    const on = FIELDS[mode].includes(id);
    $(id).parentElement.hidden = !on;
    $(id).disabled = !on;
  }
  $("password").autocomplete = mode === "signup" ? "new-password" : "current-password";
  $("signin-go").dataset.t = SUBMIT[mode];
  $("signin-go").textContent = t(SUBMIT[mode]);
}

/** Resolves true once the fan is signed in, for the page to route onwards. */
export async function signIn(event) {
  event.preventDefault();
  const [name, email] = [$("name").value.trim(), $("email").value.trim()];
  const password = $("password").value;
  try {
    if (mode === "signin") signedIn(await api.signIn(email, password));
    else if (mode === "signup") signedIn(await api.signUp({ email, password, name }));
    else signedIn(await api.register(name));
  } catch (problem) {
    if (mode === "guest" && problem.code === "not_found") {
      $("mode-guest").hidden = true; // guest sign-up is off here: accounts only
      pickMode("signup");
      showNotice(t("guestOff"));
    } else {
      showNotice(refusal(problem));
    }
    return false;
  }
  $("signin-form").reset();
  showNotice("");
  await refreshBalance();
  return true;
}

/** The site's token: its fan is signed in here, after a visit left by another fan is
 * forgotten. Resolves true when the fan changed; rejects if the token is refused. */
export async function signInFromSite(accessToken) {
  let wallet;
  try {
    wallet = await api.wallet(accessToken);
  } catch (problem) {
    showNotice(problemText(problem));
    throw problem;
  }
  const another = state.user?.userId !== wallet.userId;
  if (another) signOut();
  signedInBySite(wallet.userId, accessToken);
  renderBalance(wallet.balance);
  return another;
}

/** A guest with points or a ticket is offered to keep them. */
export function offerSave(balance) {
  const guest = Boolean(state.user) && !state.user.email;
  $("save").hidden = !(guest && (balance > 0 || state.reservations.length > 0));
}

/** With the guest's token: the same fan, points and tickets, now an account. */
export async function saveAccount(event) {
  event.preventDefault();
  const email = $("save-email").value.trim();
  const body = { email, password: $("save-password").value, name: state.user.name };
  try {
    signedIn(await api.signUp(body, access));
  } catch (problem) {
    return showNotice(refusal(problem));
  }
  $("save-form").reset();
  offerSave();
  showNotice(t("saved", { email }), "ok");
}

/** The sign-out button: the session (and its cookie) ends on the server too. */
export async function signOutHere() {
  try {
    await api.signOut(access);
  } catch {
    // signed out here all the same
  }
  signOut();
}

/** Nothing of the visit is left on this device. */
export function signOut() {
  endSession();
  stop();
  forget();
  forgetHold();
  forgetStatus();
  forgetSeats();
  $("mine").hidden = true;
  showNotice("");
  pickMode("signin");
  show("signin");
}
