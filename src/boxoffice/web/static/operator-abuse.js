// The control room against abuse: each line's defences (how many places one address
// may hold, the proof of work a join must carry), the addresses holding the most
// places with a way to take them out, and the requests refused, charted over time.
import { admin } from "./admin-api.js";
import { serverNow } from "./api.js";
import { drawChart } from "./chart.js";
import { $, changed, confirmed, el } from "./dom.js";
import { number, t } from "./i18n.js";

const LEVELS = ["off", "low", "medium", "high"];
const CHART_MINUTES = 5;
// The reasons the server names today, in the order their colours are given: a reason
// keeps its colour from one visit to the next. Others get the colours after these.
const KNOWN = [
  "places_per_address",
  "challenge_required",
  "join_address",
  "join_account",
  "poll_too_fast",
  "signup_address",
  "signin_address",
  "admin_token",
  "signin_failed_address",
  "signin_failed_account",
  "signin_failed_account_address",
  "rate_limited",
];
// Told apart by pattern as well as colour.
const COLOURS = ["#a4161a", "#1f3a5f", "#8a4b00", "#1d6b3a", "#6a3d9a", "#0f6e75", "#5b6773", "#b03a74"];
const DASHES = ["", "6 3", "2 3", "9 3 2 3"];


// The room's own state and helpers: token(), concertId(), lineName(), failed(problem),
// sticky(text, kind), refresh(), refreshMs.
let room = null;
let timer = null;
let round = 0;
let last = null; // the totals of the last poll
let totals = {};
let history = []; // [{at, deltas: {reason: n}}]
let removal = null; // what was last taken out, and of which line: {concertId, key, vars}
const unknown = [];

// --- The defences, in the controls form ------------------------------------------

/** Show a line's defences in the form (a line's, or the default line's to start from). */
export function fillDefences(line) {
  const cap = line.placesPerAddress;
  $("no-cap").checked = cap == null;
  $("per-address").disabled = cap == null;
  $("per-address").value = cap == null ? "" : cap;
  $("challenge").value = line.challenge ?? "off";
}

/** What the form changes of a line's defences (all of them for a new line, current
 * null), and the words for the confirmation. */
export function defenceChanges(current) {
  const cap = $("no-cap").checked ? null : Number($("per-address").value);
  const challenge = $("challenge").value;
  const changes = {};
  const words = [];
  if (!current || cap !== current.placesPerAddress) {
    changes.placesPerAddress = cap;
    words.push(cap == null ? t("perAddressNoCap") : `${t("perAddress")} ${number(cap)}`);
  }
  if (!current || challenge !== current.challenge) {
    changes.challenge = challenge;
    words.push(`${t("challengeLabel")} ${t(`challenge_${challenge}`)}`);
  }
  return { changes, words };
}

export const levelText = (level) => t(`challenge_${LEVELS.includes(level) ? level : "off"}`);

// --- The addresses holding the most places ---------------------------------------

/** The line's top addresses (line null: the concert has no line of its own). */
export function renderAddresses(line) {
  $("abuse").hidden = !line;
  if (!line) return;
  $("addresses-line").textContent = t("addressesIn", { line: room.lineName() });
  const mine = removal?.concertId === room.concertId();
  $("removed").textContent = mine ? t(removal.key, removal.vars) : "";
  const top = line.topAddresses ?? [];
  if (!changed($("top-addresses"), [room.concertId(), top])) return;
  if (!top.length) {
    return $("top-addresses").replaceChildren(el("p", { class: "muted", text: t("addressesEmpty") }));
  }
  const head = [t("address"), t("places"), ""];
  const row = (a) =>
    el(
      "tr",
      { "data-address": a.address },
      el("th", { scope: "row", text: a.address }),
      el("td", { class: "num", "data-field": "places", text: number(a.places) }),
      el(
        "td",
        { "data-field": "action" },
        el("button", {
          type: "button",
          class: "link",
          text: t("removeAll"),
          "aria-label": t("removeAllLabel", { address: a.address }),
          onclick: () => removeAddress(a),
        }),
      ),
    );
  $("top-addresses").replaceChildren(
    el(
      "table",
      {},
      el("thead", {}, el("tr", {}, ...head.map((h, i) => el("th", { scope: "col", class: i === 1 ? "num" : null, text: h })))),
      el("tbody", {}, ...top.map(row)),
    ),
  );
}

async function removeAddress(a) {
  const question = t("confirmRemoveAddress", { address: a.address, n: a.places, line: room.lineName() });
  if (!(await confirmed(question))) return;
  try {
    const { removedUserIds } = await admin.removeAddress(room.token(), room.concertId(), a.address);
    done("removedAddress", { n: removedUserIds.length, address: a.address });
  } catch (problem) {
    room.failed(problem);
  }
}

async function removeFan(event) {
  event.preventDefault();
  const id = Number($("remove-fan-id").value);
  if (!(await confirmed(t("confirmRemoveFan", { id, line: room.lineName() })))) return;
  try {
    await admin.removeFan(room.token(), room.concertId(), id);
    $("remove-fan-form").reset();
    done("removedFan", { id });
  } catch (problem) {
    if (problem.code === "not_found") room.sticky(t("fanHoldsNoPlace", { id }), "error");
    else room.failed(problem);
  }
}

function done(key, vars) {
  removal = { concertId: room.concertId(), key, vars };
  $("removed").textContent = t(key, vars);
  room.sticky(t(key, vars));
  room.refresh();
}

// --- The requests refused ----------------------------------------------------------

async function poll() {
  clearTimeout(timer);
  const mine = round;
  try {
    const { reasons } = await admin.refusals(room.token());
    if (mine !== round) return;
    record(reasons);
    renderRefusals();
  } catch (problem) {
    if (mine !== round) return;
    if (problem.status === 401) return room.failed(problem);
    $("refusals-failed").hidden = false; // kept polling: it may be back next time
  }
  timer = setTimeout(poll, room.refreshMs);
}

/** Each poll adds what was refused since the one before (a count that went down was
 * started again: all of it is new). */
function record(reasons) {
  const at = serverNow();
  totals = reasons;
  $("refusals-failed").hidden = true;
  if (last) {
    const deltas = {};
    for (const [reason, n] of Object.entries(reasons)) {
      const before = last[reason] ?? 0;
      deltas[reason] = n >= before ? n - before : n;
    }
    history.push({ at, deltas });
    history = history.filter((h) => h.at >= at - CHART_MINUTES * 60_000);
  }
  last = reasons;
}

function look(reason) {
  let i = KNOWN.indexOf(reason);
  if (i < 0) {
    if (!unknown.includes(reason)) unknown.push(reason);
    i = KNOWN.length + unknown.indexOf(reason);
  }
  return { stroke: COLOURS[i % COLOURS.length], dash: DASHES[Math.floor(i / 2) % DASHES.length] };
}

/** A reason in words; one the page does not know by its name. */
function reasonText(reason) {
  const key = `refused_${reason}`;
  const text = t(key);
  return text === key ? reason : text;
}

export function renderRefusals() {
  if (!room) return;
  const at = serverNow();
  const reasons = Object.keys(totals)
    .filter((r) => totals[r] > 0)
    .sort((a, b) => totals[b] - totals[a] || a.localeCompare(b));
  const watched = history.length ? at - history[0].at : 0;
  const spanMs = Math.min(CHART_MINUTES * 60_000, Math.max(30_000, watched));
  $("refusals-chart-title").textContent = t("refusalsChartTitle", { n: CHART_MINUTES });
  drawChart(
    $("refusals-chart"),
    reasons.map((reason) => ({
      name: reason,
      ...look(reason),
      points: history.map((h) => ({ at: h.at, value: h.deltas[reason] ?? 0 })),
    })),
    { now: at, spanMs },
  );
  const minuteAgo = at - 60_000;
  const lastMinute = (reason) =>
    history.filter((h) => h.at >= minuteAgo).reduce((sum, h) => sum + (h.deltas[reason] ?? 0), 0);
  const shown = reasons.map((r) => [r, totals[r], lastMinute(r)]);
  if (!changed($("refusal-totals"), shown)) return;
  if (!shown.length) {
    return $("refusal-totals").replaceChildren(el("p", { class: "muted", text: t("refusalsEmpty") }));
  }
  const head = [t("reason"), t("lastMinute"), t("total")];
  $("refusal-totals").replaceChildren(
    el(
      "table",
      {},
      el("thead", {}, el("tr", {}, ...head.map((h, i) => el("th", { scope: "col", class: i ? "num" : null, text: h })))),
      el(
        "tbody",
        {},
        ...shown.map(([reason, total, minute]) =>
          el(
            "tr",
            { "data-reason": reason },
            el(
              "th",
              { scope: "row" },
              swatch(look(reason)),
              " ",
              reasonText(reason),
              el("br"),
              el("code", { class: "muted", text: reason }),
            ),
            el("td", { class: "num", "data-field": "lastMinute", text: number(minute) }),
            el("td", { class: "num", "data-field": "total", text: number(total) }),
          ),
        ),
      ),
    ),
  );
}

/** A short line drawn as its reason's line on the chart: the chart's key. */
function swatch({ stroke, dash }) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  const line = document.createElementNS(NS, "line");
  for (const [k, v] of Object.entries({ width: 28, height: 10, "aria-hidden": "true" })) svg.setAttribute(k, v);
  const attrs = { x1: 0, y1: 5, x2: 28, y2: 5, stroke, "stroke-width": 3, "stroke-dasharray": dash || "none" };
  for (const [k, v] of Object.entries(attrs)) line.setAttribute(k, v);
  svg.append(line);
  return svg;
}

/** Start polling the refusals (on signing in). */
export function watchRefusals() {
  stopRefusals();
  poll();
}

/** Stop, and forget what was seen and done (on signing out). */
export function stopRefusals() {
  clearTimeout(timer);
  round += 1;
  removal = null;
  last = null;
  totals = {};
  history = [];
  $("refusal-totals").replaceChildren();
  delete $("refusal-totals").dataset.shown;
}

export function setUpAbuse(context) {
  room = context;
  $("no-cap").addEventListener("change", () => {
    $("per-address").disabled = $("no-cap").checked;
    if (!$("no-cap").checked && !$("per-address").value) $("per-address").focus();
  });
  $("remove-fan-form").addEventListener("submit", removeFan);
}
