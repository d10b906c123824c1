// The operator's endpoints, one line each (the fan's page never loads them). A concert's
// own line lives at /admin/concerts/{id}/waiting-room, the default line at
// /admin/waiting-room.
import { call } from "./api.js";

const lineUrl = (concertId) =>
  concertId ? `/admin/concerts/${concertId}/waiting-room` : "/admin/waiting-room";

export const admin = {
  line: (token, concertId) => call("GET", lineUrl(concertId), { token }),
  configure: (token, changes, concertId) =>
    call("PATCH", lineUrl(concertId), { token, body: changes }),
  ownLine: (token, concertId, settings) =>
    call("PUT", lineUrl(concertId), { token, body: settings }),
  refund: (token, id, key) => call("POST", `/admin/reservations/${id}/refund`, { token, key }),
  cancel: (token, scheduleId) => call("POST", `/admin/schedules/${scheduleId}/cancel`, { token }),
  sales: (token) => call("GET", "/admin/sales", { token }),
  fan: (token, query) => call("GET", `/admin/fans?${new URLSearchParams(query)}`, { token }),
  // {title, venue, timeZone}
  addConcert: (token, body) => call("POST", "/admin/concerts", { token, body }),
  // {concertAt, seatCount, price} or {concertAt, grades, sections}: a seat plan
  addSchedule: (token, concertId, body) =>
    call("POST", `/admin/concerts/${concertId}/schedules`, { token, body }),
  refusals: (token) => call("GET", "/admin/refusals", { token }),
  removeFan: (token, concertId, userId) =>
    call("DELETE", `${lineUrl(concertId)}/fans/${userId}`, { token }),
  removeAddress: (token, concertId, address) =>
    call("DELETE", `${lineUrl(concertId)}/addresses/${encodeURIComponent(address)}`, { token }),
};
