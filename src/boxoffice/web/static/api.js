// The only way the pages talk to boxoffice: same-origin /api/v1, problems as errors,
// and the server's clock read off every answer's Date header.
const BASE = "/api/v1";

/** An RFC 9457 problem from the API (or a network failure: status 0). */
export class Problem extends Error {
  constructor(status, body, retryAfter) {
    super(body?.detail || body?.title || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code || (status === 0 ? "network" : "http_error");
    this.detail = body?.detail || "";
    this.retryAfter = retryAfter;
    this.body = body; // a refusal's own fields, e.g. seat_unavailable's seatIds
  }
}

// The server's time is known to lie within [low, high] of our clock plus an offset:
// a Date header names a second at most DATE_SLACK_MS before the answer was made (the
// second itself, and a server that refreshes its Date about once a second, later when
// it is busy), and the answer was made between sending the request and receiving it.
// Each answer narrows the bounds.
const DATE_SLACK_MS = 3000;
let low = -Infinity;
let high = Infinity;

function learnClock(dateHeader, sentAt, receivedAt) {
  const server = Date.parse(dateHeader || "");
  if (Number.isNaN(server)) return;
  const lo = server - receivedAt;
  const hi = server + DATE_SLACK_MS - sentAt;
  if (lo > high || hi < low) {
    low = lo; // our clock jumped: start over from this answer
    high = hi;
  } else {
    low = Math.max(low, lo);
    high = Math.min(high, hi);
  }
}

/** Now, by the server's clock (ms since the epoch), erring late by up to DATE_SLACK_MS:
 * a countdown may end a moment early but never promises time the server won't give. */
export function serverNow() {
  return Date.now() + (Number.isFinite(high) ? high : 0);
}

/** A fresh Idempotency-Key (crypto.randomUUID needs a secure context; this does not). */
export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// A token given as a function that answers 401 token_expired is renewed (once).
let renew = null;
export const renewWith = (fn) => (renew = fn);

/** Call the API; resolves to the JSON body (null for 204), rejects with a Problem. */
export async function call(method, path, options = {}, again = false) {
  const { token, body, key } = options;
  const bearer = typeof token === "function" ? token() : token;
  const headers = { Accept: "application/json" };
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (key) headers["Idempotency-Key"] = key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const sentAt = Date.now();
  let response;
  try {
    response = await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "same-origin", // the refresh cookie, to /sessions
    });
  } catch {
    throw new Problem(0, null, null);
  }
  learnClock(response.headers.get("Date"), sentAt, Date.now());
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const lapsed = response.status === 401 && parsed?.code === "token_expired";
    if (lapsed && typeof token === "function" && !again && (await renew?.())) {
      return call(method, path, options, true);
    }
    const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    throw new Problem(response.status, parsed, Number.isFinite(retry) ? retry : null);
  }
  return parsed;
}

// The endpoints, one line each, so an addition to the contract is one line here.
export const api = {
  register: (name) => call("POST", "/users", { body: { name } }),
  signUp: (body, guest) => call("POST", "/accounts", { token: guest, body }),
  signIn: (email, password) => call("POST", "/sessions", { body: { email, password } }),
  refresh: () => call("POST", "/sessions/refresh"),
  signOut: (access) => call("DELETE", "/sessions/current", { token: access }),
  mine: (access) => call("GET", "/reservations", { token: access }),
  wallet: (access) => call("GET", "/wallet", { token: access }),
  charge: (access, amount, key) =>
    call("POST", "/wallet/charges", { token: access, body: { amount }, key }),
  ledger: (access) => call("GET", "/wallet/transactions", { token: access }),
  concerts: () => call("GET", "/concerts"),
  // The line this concert is sold through: its own, or the default line. A line that
  // asks for proof of work takes the solved challenge as proof (pow.js).
  join: (access, concertId, proof) =>
    call("POST", "/queue/tokens", { token: access, body: { concertId, proof } }),
  challenge: (access, concertId) =>
    call("GET", `/queue/challenge${concertId ? `?concertId=${concertId}` : ""}`, { token: access }),
  status: (queue) => call("GET", "/queue/status", { token: queue }),
  leave: (queue) => call("DELETE", "/queue/tokens/current", { token: queue }),
  schedules: (queue, concertId) => call("GET", `/concerts/${concertId}/schedules`, { token: queue }),
  seats: (queue, concertId, scheduleId) =>
    call("GET", `/concerts/${concertId}/schedules/${scheduleId}/seats`, { token: queue }),
  hold: (queue, scheduleId, seatId) =>
    call("POST", "/reservations", { token: queue, body: { scheduleId, seatId } }),
  reservation: (token, id) => call("GET", `/reservations/${id}`, { token }),
  release: (queue, id) => call("DELETE", `/reservations/${id}`, { token: queue }),
  // One seat ({reservationId}) or an order's every seat ({orderId}).
  pay: (queue, body, key) => call("POST", "/payments", { token: queue, body, key }),
  order: (queue, scheduleId, seatIds) =>
    call("POST", "/orders", { token: queue, body: { scheduleId, seatIds } }),
  getOrder: (token, id) => call("GET", `/orders/${id}`, { token }),
  releaseOrder: (queue, id) => call("DELETE", `/orders/${id}`, { token: queue }),
  refund: (access, id, key) => call("POST", `/reservations/${id}/refund`, { token: access, key }),
};
