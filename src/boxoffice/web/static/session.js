// The access token lives in memory only. The refresh token is an HttpOnly cookie on
// /api/v1/sessions, out of page scripts' reach; it renews the access token before it
// lapses, on a 401 token_expired, and after a reload or a restart. In a frame of the
// ticketing site, the site's token is used instead, and the site renews it.
import { api, renewWith, serverNow } from "./api.js";
import { embedded, nameIn, renewFromSite } from "./embedded.js";
import { save, state } from "./fan-state.js";

let renewal = null; // one at a time: a renewal spends the refresh token it sends
let timer = null;

export const access = () => state.user?.accessToken;

export function signedIn({ userId, name, email, accessToken, accessExpiresAt }) {
  state.user = { userId, name, email, accessToken };
  save();
  clearTimeout(timer);
  timer = setTimeout(renew, Math.max(Date.parse(accessExpiresAt) - serverNow() - 60_000, 5_000));
}

/** Signed in by the embedding site, with the fan its token names (GET /wallet's userId). */
export function signedInBySite(userId, accessToken) {
  clearTimeout(timer);
  state.user = { userId, name: nameIn(accessToken), accessToken };
  save();
}

/** True once signed in again. A browser's tabs share the cookie: they take turns. */
export function renew() {
  if (embedded) return renewFromSite();
  const run = async () => {
    try {
      signedIn(await api.refresh());
      return true;
    } catch {
      return false;
    }
  };
  const locks = navigator.locks;
  renewal ||= (locks ? locks.request("boxoffice.session", run) : run()).finally(() => (renewal = null));
  return renewal;
}

export const endSession = () => clearTimeout(timer);

renewWith(renew);
