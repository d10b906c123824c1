// Signing in (a name is enough) and out (the visit is forgotten on this device).
import { api } from "./api.js";
import { $, problemText, showNotice } from "./dom.js";
import { forget, save, show, state, stop } from "./fan-state.js";
import { forgetSeats } from "./screen-booking.js";
import { forgetHold } from "./screen-hold.js";
import { forgetStatus } from "./screen-line.js";
import { refreshBalance } from "./wallet.js";

/** Resolves true once the fan is signed in, for the page to route onwards. */
export async function signIn(event) {
  event.preventDefault();
  const name = $("name").value.trim();
  if (!name) return false;
  try {
    const user = await api.register(name);
    state.user = { userId: user.userId, name: user.name, accessToken: user.accessToken };
    save();
    showNotice("");
    await refreshBalance();
    return true;
  } catch (problem) {
    showNotice(problemText(problem));
    return false;
  }
}

export function signOut() {
  stop();
  forget();
  forgetHold();
  forgetStatus();
  forgetSeats();
  $("mine").hidden = true;
  showNotice("");
  show("signin");
}
