// The fan page framed by the ticketing site (EMBEDDING_ORIGINS): the site signs its
// fans in with its own identity provider and hands the page their access token by
// postMessage (docs/deployment.md). The page says {type: "boxoffice:ready"}, takes
// {type: "boxoffice:token", accessToken} from the site's window and origin alone, and
// asks {type: "boxoffice:renew"} when the token has lapsed. The token stays in memory.
const RENEW_WAIT_MS = 10_000;

const listed = document.querySelector('meta[name="boxoffice-embedding-origins"]')?.content;
const allowed = (listed || "").split(/\s+/).filter(Boolean);

/** True when the page runs in a frame of a site allowed to embed it. */
export const embedded = window.parent !== window && allowed.length > 0;

let siteOrigin = null; // the allowed origin whose token is in use
let waiting = []; // renewals waiting for the site's next token

/** Take the site's tokens from now on; `use(token)` resolves once the page runs on it
 * (and rejects if the token is refused). */
export function listen(use) {
  window.addEventListener("message", async (event) => {
    const data = event.data;
    if (event.source !== window.parent || !allowed.includes(event.origin)) return;
    if (data?.type !== "boxoffice:token" || typeof data.accessToken !== "string") return;
    siteOrigin = event.origin;
    let used = true;
    try {
      await use(data.accessToken);
    } catch {
      used = false;
    }
    const settled = waiting;
    waiting = [];
    for (const resolve of settled) resolve(used);
  });
  // Nothing secret in it, so any origin may read it; only allowed ones are answered.
  window.parent.postMessage({ type: "boxoffice:ready" }, "*");
}

/** Ask the site for a fresh token; true once it is in use, false after RENEW_WAIT_MS. */
export function renewFromSite() {
  if (!siteOrigin) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      waiting = waiting.filter((r) => r !== done);
      resolve(false);
    }, RENEW_WAIT_MS);
    const done = (used) => {
      clearTimeout(timer);
      resolve(used);
    };
    waiting.push(done);
    if (waiting.length === 1) window.parent.postMessage({ type: "boxoffice:renew" }, siteOrigin);
  });
}

/** The fan's name as the token says it (for the greeting only: the server checks it). */
export function nameIn(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0))));
    return String(claims.name || claims.preferred_username || "").trim() || "fan";
  } catch {
    return "fan";
  }
}
