// What the fan page's screens share: the visit kept in localStorage (so a reload at
// any step comes back to the same place in line or the same hold; never the access
// token, which session.js keeps in memory), which screen is on, and the named timers,
// so that leaving a screen stops exactly its own.
import { $ } from "./dom.js";
import { t } from "./i18n.js";

const STORE = "boxoffice.fan";
const SECTIONS = ["signin", "concerts", "line", "booking", "hold", "ticket"];

/** The one store of the visit; screens change its fields and then save(). */
export const state = load();
let current = null; // the section on screen; changed only by show()
const timers = {};

function load() {
  const empty = { user: null, line: null, hold: null, ticket: null, reservations: [], payKeys: {}, refundKeys: {}, pendingCharge: null };
  try {
    return { ...empty, ...JSON.parse(localStorage.getItem(STORE) || "{}") };
  } catch {
    return empty;
  }
}

export function save() {
  const user = state.user && { ...state.user, accessToken: undefined };
  localStorage.setItem(STORE, JSON.stringify({ ...state, user }));
}

/** Sign-out: nothing of the visit is left, in the store or in localStorage. */
export function forget() {
  localStorage.removeItem(STORE);
  Object.assign(state, load());
}

export const onScreen = () => current;

export function show(section, { focus = false } = {}) {
  current = section;
  for (const id of SECTIONS) $(id).hidden = id !== section;
  const signedIn = Boolean(state.user);
  $("wallet").hidden = !signedIn;
  if (!signedIn) $("save").hidden = true;
  for (const id of ["mine-toggle", "signout", "who"]) $(id).hidden = !signedIn;
  if (signedIn) $("who").textContent = t("hello", { name: state.user.name });
  if (section !== "line") document.title = t("titleIdle");
  if (focus) $(`${section}-title`)?.focus();
}

export function after(name, run, ms) {
  timers[name] = setTimeout(run, ms);
}

export function every(name, run, ms) {
  timers[name] = setInterval(run, ms);
}

/** Stop the named timers, or every timer when none is named. */
export function stop(...names) {
  for (const name of names.length ? names : Object.keys(timers)) {
    clearTimeout(timers[name]);
    clearInterval(timers[name]);
    delete timers[name];
  }
}
