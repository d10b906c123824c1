// The operator's control room: each line live (the default one, or a concert's own)
// with its controls and opening draw, sales with cancelling and refunds, and the
// catalog, all on the admin API. The admin token lives in sessionStorage only: it goes
// when the tab does.
import { admin } from "./admin-api.js";
import { api, newKey, serverNow } from "./api.js";
import { drawChart } from "./chart.js";
import { $, changed, confirmed, el, facts, HERE, problemText, showNotice, venueTime } from "./dom.js";
import { findFan, renderFan } from "./operator-fans.js";
import {
  defenceChanges,
  fillDefences,
  levelText,
  renderAddresses,
  renderRefusals,
  setUpAbuse,
  stopRefusals,
  watchRefusals,
} from "./operator-abuse.js";
import { applyTexts, clockTime, number, points, t, toggleLanguage } from "./i18n.js";
import { knownZone, wallClock, zonedInstant } from "./wall-clock.js";

const TOKEN = "boxoffice.admin";
const REFRESH_MS = 1_500;
const CHART_MINUTES = 5;
const STATS = {
  waiting: (l) => number(l.waiting),
  admitted: (l) => number(l.admitted),
  admittedLastMinute: (l) => number(l.admittedLastMinute),
  capacity: (l) => number(l.capacity),
  admissionPerMinute: (l) => number(l.admissionPerMinute),
  paused: (l) => t(lineState(l)),
  seatsLeft: (l) => (l.seatsLeft == null ? "–" : number(l.seatsLeft)),
  salesOpenAt: (l) => (l.salesOpenAt ? venueTime(l.salesOpenAt, zoneOf(selected)) : t("openNow")),
  placesPerAddress: (l) => (l.placesPerAddress == null ? t("noCap") : number(l.placesPerAddress)),
  challenge: (l) => levelText(l.challenge),
};
const REFUND_REFUSED = {
  already_refunded: "alreadyRefunded",
  not_paid: "notPaid",
  reservation_not_found: "noReservation",
};

let token = sessionStorage.getItem(TOKEN);
let concerts = [];
let selected = null; // the concert whose line is shown; null: the default line
let own = true; // whether the selected line exists (a concert may have none of its own)
let line = null;
let sales = null;
let history = [];
let timer = null;
let round = 0; // answers of an older refresh (another line) are dropped
let formDirty = false;
const refundKeys = {};

/** A concert's time zone (an older answer has none: venueTime reads it as Seoul's). */
const zoneOf = (concertId) => concerts.find((c) => c.concertId === concertId)?.timeZone;

async function signIn(event) {
  event.preventDefault();
  token = $("admin-token").value.trim();
  try {
    await admin.line(token);
  } catch (problem) {
    token = null;
    return showNotice(problem.status === 401 ? t("opBadToken") : problemText(problem));
  }
  sessionStorage.setItem(TOKEN, token);
  $("admin-token").value = "";
  showNotice("");
  enter();
}

function signOut(message = "") {
  clearTimeout(timer);
  stopRefusals();
  round += 1;
  token = null;
  sessionStorage.removeItem(TOKEN);
  line = sales = null;
  history = [];
  $("room").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  showNotice(message);
}

function failed(problem) {
  if (problem.status === 401) return signOut(t("opBadToken"));
  sticky(problemText(problem), "error");
}

function enter() {
  $("signin").hidden = true;
  $("room").hidden = false;
  $("signout").hidden = false;
  formDirty = false;
  refresh();
  watchRefusals();
  loadConcerts();
}

async function refresh() {
  clearTimeout(timer);
  const mine = ++round;
  try {
    const [next, found] = await Promise.all([
      own ? admin.line(token, selected).catch(noOwnLine) : null,
      admin.sales(token),
    ]);
    if (mine !== round) return;
    sales = found;
    line = next;
    if (line) {
      const at = serverNow();
      history.push({ at, waiting: line.waiting, admitted: line.admitted });
      history = history.filter((h) => h.at >= at - CHART_MINUTES * 60_000);
    }
    render();
    $("updated").textContent = t("updated", { time: clockTime(serverNow()) });
    if (!$("notice").dataset.sticky) showNotice("");
  } catch (problem) {
    if (mine !== round) return;
    if (problem.status === 401) return signOut(t("opBadToken"));
    showNotice(problemText(problem));
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

/** A concert sold through the default line has no line of its own to show: say so,
 * and offer to make one starting from the default line's settings. */
async function noOwnLine(problem) {
  if (problem.status !== 404 || problem.code !== "not_found" || selected === null) throw problem;
  own = false;
  const defaults = await admin.line(token);
  if (!formDirty) {
    $("capacity").value = defaults.capacity;
    $("pace").value = defaults.admissionPerMinute;
    $("opens").value = "";
    fillDefences(defaults);
  }
  return null;
}

function pickLine() {
  const value = $("line-pick").value;
  selected = value ? Number(value) : null;
  own = true;
  line = null;
  history = [];
  formDirty = false;
  $("applied").textContent = "";
  showZones();
  for (const dd of document.querySelectorAll("#stats dd")) dd.textContent = "–";
  refresh();
}

function lineState(l) {
  if (l.soldOutAt) return "soldOutState";
  if (l.paused) return "paused";
  if (l.draw && l.draw.seed == null) return "beforeOpening"; // the server reveals it at the opening
  return "running";
}

function render() {
  renderSales();
  const title = concerts.find((c) => c.concertId === selected)?.title ?? "";
  for (const node of document.querySelectorAll(".own")) node.hidden = selected === null;
  $("no-line").hidden = own;
  $("no-line").textContent = own ? "" : t("noOwnLine", { title });
  $("line-live").hidden = $("pause-toggle").hidden = !own;
  $("apply").textContent = t(own ? "apply" : "makeLine");
  $("apply").dataset.t = own ? "apply" : "makeLine";
  renderDraw();
  renderAddresses(own ? line : null);
  if (!own || !line) return;
  for (const [name, text] of Object.entries(STATS)) {
    const dd = $(`stat-${name}`);
    const shown = text(line);
    if (dd.textContent !== shown && dd.textContent !== "–") {
      dd.classList.remove("changed");
      void dd.offsetWidth; // restart the highlight
      dd.classList.add("changed");
    }
    dd.textContent = shown;
    dd.dataset.value = String(line[name]);
  }
  $("stat-paused").classList.toggle("state-paused", line.paused || Boolean(line.soldOutAt));
  $("pause-toggle").textContent = t(line.paused ? "resume" : "pause");
  $("resets").hidden = !line.lineResets;
  if (line.lineResets) {
    $("resets").textContent = t("lineResets", { n: line.lineResets, time: venueTime(line.lineResetAt, HERE) });
  }
  if (!formDirty) {
    $("capacity").value = line.capacity;
    $("pace").value = line.admissionPerMinute;
    $("opens").value = line.salesOpenAt ? wallClock(Date.parse(line.salesOpenAt), zoneOf(selected)) : "";
    fillDefences(line);
  }
  $("chart-title").textContent = t("chartTitle", { n: CHART_MINUTES });
  drawChart(
    $("chart"),
    [
      { name: "waiting", points: history.map((h) => ({ at: h.at, value: h.waiting })) },
      { name: "admitted", points: history.map((h) => ({ at: h.at, value: h.admitted })) },
    ],
    { now: serverNow(), spanMs: chartSpan() },
  );
}

/** Before the opening only the seed's hash is known; after it, the seed and how many
 * were drawn, so anyone can check the order. */
function renderDraw() {
  const draw = own ? line?.draw : null;
  $("draw").hidden = !draw;
  if (!draw || !changed($("draw-facts"), [draw, zoneOf(selected)])) return;
  facts($("draw-facts"), [
    [t("opensLabel"), venueTime(draw.opensAt, zoneOf(selected))],
    [t("commitment"), draw.seedCommitment],
    [t("seed"), draw.seed ?? t("seedLater")],
    [t("entrants"), draw.entrants == null ? "–" : number(draw.entrants)],
    ...(draw.drawnAt ? [[t("drawnAt"), venueTime(draw.drawnAt, zoneOf(selected))]] : []),
  ]);
}

/** The last CHART_MINUTES, or as long as we have watched (at least half a minute). */
function chartSpan() {
  const watched = history.length ? serverNow() - history[0].at : 0;
  return Math.min(CHART_MINUTES * 60_000, Math.max(30_000, watched));
}

function renderSales() {
  // Drawn again when a concert's time zone comes (or changes), not only its sales.
  if (!sales || !changed($("sales"), [sales, concerts])) return;
  const head = [t("concert"), t("sold"), t("held"), t("available"), t("revenue"), ""];
  const rows = [];
  for (const c of sales.concerts) {
    const zone = c.timeZone ?? zoneOf(c.concertId) ?? "Asia/Seoul";
    rows.push(salesRow(`${c.title} — ${c.venue} · ${zone}`, c, "concert", c.concertId, ""));
    for (const s of c.schedules) {
      const row = salesRow(venueTime(s.concertAt, zone), s, "sub", s.scheduleId, scheduleAction(c, s, zone));
      row.classList.toggle("cancelled", Boolean(s.cancelledAt));
      rows.push(row);
    }
  }
  $("sales").replaceChildren(
    rows.length
      ? el(
          "table",
          {},
          el("thead", {}, el("tr", {}, ...head.map((h, i) => el("th", { scope: "col", class: i && i < 5 ? "num" : null, text: h })))),
          el("tbody", {}, ...rows),
        )
      : el("p", { class: "muted", text: t("salesEmpty") }),
  );
}

function salesRow(label, n, kind, id, action) {
  const cell = (field, text) => el("td", { class: "num", "data-field": field, "data-label": t(field), text });
  return el(
    "tr",
    { class: kind, "data-id": id },
    el(kind === "concert" ? "th" : "td", { scope: kind === "concert" ? "row" : null, text: label }),
    cell("sold", number(n.sold)),
    cell("held", number(n.held)),
    cell("available", number(n.available)),
    cell("revenue", points(n.revenue)),
    el("td", { "data-field": "action" }, action),
  );
}

function scheduleAction(c, s, zone) {
  if (s.cancelledAt) return t("cancelledAt", { time: venueTime(s.cancelledAt, zone) });
  const date = venueTime(s.concertAt, zone);
  return el("button", {
    type: "button",
    class: "link",
    text: t("cancelShow"),
    "aria-label": t("cancelShowLabel", { title: c.title, date }),
    onclick: () => cancelShow(c, s, date),
  });
}

/** Cancelling refunds every ticket and cannot be undone: the operator types a word. */
async function cancelShow(c, s, date) {
  const question = t("confirmCancelShow", { title: c.title, date, n: s.sold, amount: points(s.revenue) });
  if (!(await confirmed(question, t("cancelWord")))) return;
  try {
    const done = await admin.cancel(token, s.scheduleId);
    // What this cancel refunded, then the show's total (tickets refunded one by one
    // before are in the total, not in what the dialog asked about).
    const total = { n: done.refunded, amount: points(done.refundedAmount) };
    sticky(t("showCancelled", { n: done.refundedNow, total: total.n, amount: total.amount }));
    refresh();
  } catch (problem) {
    failed(problem);
  }
}

/** One Idempotency-Key per reservation until the server has answered it. */
async function refundOne(event) {
  event.preventDefault();
  const id = Number($("refund-id").value);
  if (!(await confirmed(t("confirmRefundId", { id })))) return;
  const key = (refundKeys[id] ||= newKey());
  try {
    const done = await admin.refund(token, id, key);
    delete refundKeys[id];
    $("refund-form").reset();
    sticky(t("refundedId", { id, amount: points(done.amount), user: done.userId }));
    refresh();
  } catch (problem) {
    if (problem.status !== 0 && problem.status !== 503) delete refundKeys[id];
    const words = REFUND_REFUSED[problem.code];
    if (words) sticky(t(words, { id }), "error");
    else failed(problem);
  }
}

async function configure(changes, question) {
  if (!(await confirmed(question))) return;
  try {
    line = own
      ? await admin.configure(token, changes, selected)
      : await admin.ownLine(token, selected, changes);
    own = true;
    formDirty = false;
    render();
    $("applied").textContent = t("applied", { time: clockTime(serverNow()) });
    refresh(); // and drop an answer still in flight from before the change
  } catch (problem) {
    failed(problem);
  }
}

function applyControls(event) {
  event.preventDefault();
  const capacity = Number($("capacity").value);
  const admissionPerMinute = Number($("pace").value);
  const typed = $("opens").value;
  const zone = zoneOf(selected) ?? "Asia/Seoul";
  const salesOpenAt = selected !== null && typed ? new Date(zonedInstant(typed, zone)).toISOString() : null;
  const opening = salesOpenAt ? t("opensAt", { time: venueTime(salesOpenAt, zone) }) : t("opensNow");
  const words = [];
  const defences = defenceChanges(own ? line : null);
  if (!own) {
    words.push(`${t("capacity")} ${number(capacity)}`, `${t("pace")} ${number(admissionPerMinute)}`, opening);
    words.push(...defences.words);
    const title = concerts.find((c) => c.concertId === selected)?.title ?? "";
    return configure(
      { capacity, admissionPerMinute, salesOpenAt, ...defences.changes },
      t("confirmOwnLine", { title, changes: words.join(", ") }),
    );
  }
  const changes = { ...defences.changes };
  if (capacity !== line?.capacity) {
    changes.capacity = capacity;
    words.push(`${t("capacity")} ${number(capacity)}`);
  }
  if (admissionPerMinute !== line?.admissionPerMinute) {
    changes.admissionPerMinute = admissionPerMinute;
    words.push(`${t("pace")} ${number(admissionPerMinute)}`);
  }
  const second = (iso) => (iso ? Math.floor(Date.parse(iso) / 1000) : null);
  if (selected !== null && line && second(salesOpenAt) !== second(line.salesOpenAt)) {
    changes.salesOpenAt = salesOpenAt;
    words.push(opening);
  }
  words.push(...defences.words);
  if (!words.length) return;
  const warnings = [];
  if (changes.capacity !== undefined && capacity < (line?.admitted ?? 0)) {
    warnings.push(t("capacityBelowAdmitted", { n: line.admitted }));
  }
  if (changes.salesOpenAt && Date.parse(changes.salesOpenAt) <= serverNow()) {
    warnings.push(t("openingPast"));
  }
  configure(changes, [t("confirmChange", { changes: words.join(", ") }), ...warnings].join(" "));
}

function togglePause() {
  const paused = !line?.paused;
  configure({ paused }, t(paused ? "confirmPause" : "confirmResume"));
}

async function loadConcerts(chosen) {
  try {
    ({ items: concerts } = await api.concerts());
    const option = (value, text, on) => el("option", { value, selected: on, text });
    $("schedule-concert").replaceChildren(
      ...concerts.map((c) => option(c.concertId, c.title, c.concertId === chosen)),
    );
    $("line-pick").replaceChildren(
      option("", t("defaultLine"), selected === null),
      ...concerts.map((c) => option(c.concertId, c.title, c.concertId === selected)),
    );
    showZones();
  } catch (problem) {
    showNotice(problemText(problem));
  }
}

/** Beside each time typed in: the clock it is read on (the chosen concert's). */
function showZones() {
  $("schedule-zone").textContent = t("venueClock", { zone: zoneOf(Number($("schedule-concert").value)) ?? "Asia/Seoul" });
  $("opens-zone").textContent = t("venueClock", { zone: zoneOf(selected) ?? "Asia/Seoul" });
}

/** The browser knows which names are time zones: an unknown one is refused here. */
function checkZone() {
  const zone = $("concert-zone");
  zone.setCustomValidity(knownZone(zone.value.trim()) ? "" : t("badTimeZone"));
}

async function addConcert(event) {
  event.preventDefault();
  const body = {
    title: $("concert-title").value.trim(),
    venue: $("concert-venue").value.trim(),
    timeZone: $("concert-zone").value.trim(),
  };
  try {
    const c = await admin.addConcert(token, body);
    $("concert-form").reset();
    await loadConcerts(c.concertId);
    sticky(t("concertAdded", { title: c.title }));
    refresh();
  } catch (problem) {
    failed(problem);
  }
}

// The seat-plan editor, fetched the first time the operator chooses "Seat plan".
let planner = null;
async function planEditor() {
  if (!planner) {
    planner = await import("./operator-plan.js");
    planner.setUpPlan();
  }
  return planner;
}

/** One way of seating shown and sent: seats at one price, or a seat plan. */
function showSeating() {
  const plan = $("mode-plan").checked;
  $("simple").hidden = $("simple").disabled = plan;
  $("plan").hidden = $("plan").disabled = !plan;
  if (plan) planEditor().catch(failed);
}

async function addSchedule(event) {
  event.preventDefault();
  const plan = $("mode-plan").checked ? (await planEditor()).seatPlan() : null;
  if (plan?.problem) {
    plan.input?.focus();
    return sticky(plan.problem, "error");
  }
  const concertId = Number($("schedule-concert").value);
  const zone = zoneOf(concertId) ?? "Asia/Seoul";
  const at = zonedInstant($("schedule-at").value, zone); // on the venue's clock
  if (at <= serverNow() && !(await confirmed(t("confirmPastShow", { date: venueTime(at, zone) })))) {
    return;
  }
  try {
    const concertAt = new Date(at).toISOString();
    const s = await admin.addSchedule(
      token,
      concertId,
      plan
        ? { concertAt, grades: plan.grades, sections: plan.sections }
        : { concertAt, seatCount: Number($("schedule-seats").value), price: Number($("schedule-price").value) },
    );
    sticky(t("scheduleAdded", { date: venueTime(s.concertAt, zone), n: s.totalSeats }));
    refresh();
  } catch (problem) {
    // A plan the server refuses: its reason (in English) beside the page's words.
    if (plan && problem.code === "validation_error") sticky(`${problemText(problem)} (${problem.detail})`, "error");
    else failed(problem);
  }
}

/** A notice that outlives the next few refreshes. */
function sticky(text, kind = "ok") {
  showNotice(text, kind);
  const notice = $("notice");
  clearTimeout(notice.unstick);
  notice.dataset.sticky = "1";
  notice.unstick = setTimeout(() => delete notice.dataset.sticky, 5_000);
}

function start() {
  applyTexts(document);
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", () => signOut());
  $("line-pick").addEventListener("change", pickLine);
  $("schedule-concert").addEventListener("change", showZones);
  $("concert-zone").addEventListener("input", checkZone);
  $("zones").replaceChildren(...Intl.supportedValuesOf("timeZone").map((zone) => el("option", { value: zone })));
  $("controls").addEventListener("submit", applyControls);
  $("controls").addEventListener("input", () => (formDirty = true));
  $("pause-toggle").addEventListener("click", togglePause);
  $("refund-form").addEventListener("submit", refundOne);
  $("concert-form").addEventListener("submit", addConcert);
  $("schedule-form").addEventListener("submit", addSchedule);
  for (const radio of document.querySelectorAll('input[name="seating"]')) radio.addEventListener("change", showSeating);
  showSeating();
  setUpAbuse({
    token: () => token,
    concertId: () => selected,
    lineName: () =>
      selected === null
        ? t("theDefaultLine")
        : t("lineOf", { title: concerts.find((c) => c.concertId === selected)?.title ?? "" }),
    failed,
    sticky,
    refresh,
    refreshMs: REFRESH_MS,
  });
  $("fan-form").addEventListener("submit", (event) => {
    event.preventDefault();
    findFan(token, failed);
  });
  $("lang").addEventListener("click", async () => {
    await toggleLanguage();
    loadConcerts(Number($("schedule-concert").value));
    checkZone();
    render();
    renderFan();
    renderRefusals();
    planner?.renderPlan();
  });
  if (token) enter();
  else $("signin").hidden = false;
}

start();
