// The operator's control room: the line live, its controls, sales and the catalog,
// all on the admin API. The admin token lives in sessionStorage only: it goes when
// the tab does.
import { admin, api, serverNow } from "./api.js";
import { drawChart } from "./chart.js";
import { $, el, problemText, showNotice } from "./dom.js";
import { applyTexts, clockTime, dateTime, number, points, t, toggleLanguage } from "./i18n.js";

const TOKEN = "boxoffice.admin";
const REFRESH_MS = 1_500;
const CHART_MINUTES = 5;
const STATS = ["waiting", "admitted", "admittedLastMinute", "capacity", "admissionPerMinute", "paused"];

let token = sessionStorage.getItem(TOKEN);
let line = null;
let sales = null;
let history = [];
let timer = null;
let formDirty = false;

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
  token = null;
  sessionStorage.removeItem(TOKEN);
  line = sales = null;
  history = [];
  $("room").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  showNotice(message);
}

function enter() {
  $("signin").hidden = true;
  $("room").hidden = false;
  $("signout").hidden = false;
  formDirty = false;
  refresh();
  loadConcerts();
}

async function refresh() {
  clearTimeout(timer);
  try {
    [line, sales] = await Promise.all([admin.line(token), admin.sales(token)]);
    const at = serverNow();
    history.push({ at, waiting: line.waiting, admitted: line.admitted });
    history = history.filter((h) => h.at >= at - CHART_MINUTES * 60_000);
    render();
    $("updated").textContent = t("updated", { time: clockTime(at) });
    if (!$("notice").dataset.sticky) showNotice("");
  } catch (problem) {
    if (problem.status === 401) return signOut(t("opBadToken"));
    showNotice(problemText(problem));
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

function render() {
  if (!line) return;
  for (const name of STATS) {
    const dd = $(`stat-${name}`);
    const text = name === "paused" ? t(line.paused ? "paused" : "running") : number(line[name]);
    if (dd.textContent !== text && dd.textContent !== "–") {
      dd.classList.remove("changed");
      void dd.offsetWidth; // restart the highlight
      dd.classList.add("changed");
    }
    dd.textContent = text;
    dd.dataset.value = String(line[name]);
  }
  $("stat-paused").classList.toggle("state-paused", line.paused);
  $("pause-toggle").textContent = t(line.paused ? "resume" : "pause");
  if (!formDirty) {
    $("capacity").value = line.capacity;
    $("pace").value = line.admissionPerMinute;
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
  renderSales();
}

/** The last CHART_MINUTES, or as long as we have watched (at least half a minute). */
function chartSpan() {
  const watched = history.length ? serverNow() - history[0].at : 0;
  return Math.min(CHART_MINUTES * 60_000, Math.max(30_000, watched));
}

function renderSales() {
  if (!sales) return;
  const head = [t("concert"), t("sold"), t("held"), t("available"), t("revenue")];
  const rows = [];
  for (const c of sales.concerts) {
    rows.push(salesRow(`${c.title} — ${c.venue}`, c, "concert", c.concertId));
    for (const s of c.schedules) rows.push(salesRow(dateTime(s.concertAt), s, "sub", s.scheduleId));
  }
  $("sales").replaceChildren(
    rows.length
      ? el(
          "table",
          {},
          el("thead", {}, el("tr", {}, ...head.map((h, i) => el("th", { scope: "col", class: i ? "num" : null, text: h })))),
          el("tbody", {}, ...rows),
        )
      : el("p", { class: "muted", text: t("salesEmpty") }),
  );
}

function salesRow(label, n, kind, id) {
  return el(
    "tr",
    { class: kind, "data-id": id },
    el(kind === "concert" ? "th" : "td", { scope: kind === "concert" ? "row" : null, text: label }),
    el("td", { class: "num", "data-field": "sold", text: number(n.sold) }),
    el("td", { class: "num", "data-field": "held", text: number(n.held) }),
    el("td", { class: "num", "data-field": "available", text: number(n.available) }),
    el("td", { class: "num", "data-field": "revenue", text: points(n.revenue) }),
  );
}

/** Ask before changing the line; resolves true when confirmed. */
function confirmed(text) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  return new Promise((resolve) => {
    const done = (answer) => {
      dialog.close();
      $("confirm-yes").onclick = $("confirm-no").onclick = dialog.oncancel = null;
      resolve(answer);
    };
    $("confirm-yes").onclick = () => done(true);
    $("confirm-no").onclick = () => done(false);
    dialog.oncancel = () => done(false);
    dialog.showModal();
    $("confirm-no").focus();
  });
}

async function configure(changes, question) {
  if (!(await confirmed(question))) return;
  try {
    line = await admin.configure(token, changes);
    formDirty = false;
    render();
    $("applied").textContent = t("applied", { time: clockTime(serverNow()) });
  } catch (problem) {
    if (problem.status === 401) return signOut(t("opBadToken"));
    showNotice(problemText(problem));
  }
}

function applyControls(event) {
  event.preventDefault();
  const capacity = Number($("capacity").value);
  const admissionPerMinute = Number($("pace").value);
  const changes = {};
  const words = [];
  if (capacity !== line?.capacity) {
    changes.capacity = capacity;
    words.push(`${t("capacity")} ${number(capacity)}`);
  }
  if (admissionPerMinute !== line?.admissionPerMinute) {
    changes.admissionPerMinute = admissionPerMinute;
    words.push(`${t("pace")} ${number(admissionPerMinute)}`);
  }
  if (!words.length) return;
  configure(changes, t("confirmChange", { changes: words.join(", ") }));
}

function togglePause() {
  const paused = !line?.paused;
  configure({ paused }, t(paused ? "confirmPause" : "confirmResume"));
}

async function loadConcerts(selected) {
  try {
    const { items } = await api.concerts();
    $("schedule-concert").replaceChildren(
      ...items.map((c) => el("option", { value: c.concertId, selected: c.concertId === selected, text: c.title })),
    );
  } catch (problem) {
    showNotice(problemText(problem));
  }
}

async function addConcert(event) {
  event.preventDefault();
  try {
    const c = await admin.addConcert(token, $("concert-title").value.trim(), $("concert-venue").value.trim());
    $("concert-form").reset();
    await loadConcerts(c.concertId);
    sticky(t("concertAdded", { title: c.title }));
    refresh();
  } catch (problem) {
    showNotice(problemText(problem));
  }
}

async function addSchedule(event) {
  event.preventDefault();
  const at = new Date($("schedule-at").value); // the operator's local time
  try {
    const s = await admin.addSchedule(
      token,
      Number($("schedule-concert").value),
      at.toISOString(),
      Number($("schedule-seats").value),
      Number($("schedule-price").value),
    );
    sticky(t("scheduleAdded", { date: dateTime(s.concertAt), n: s.totalSeats }));
    refresh();
  } catch (problem) {
    showNotice(problemText(problem));
  }
}

function sticky(text) {
  showNotice(text, "ok");
  $("notice").dataset.sticky = "1";
  setTimeout(() => delete $("notice").dataset.sticky, 5_000);
}

function start() {
  applyTexts(document);
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", () => signOut());
  $("controls").addEventListener("submit", applyControls);
  $("controls").addEventListener("input", () => (formDirty = true));
  $("pause-toggle").addEventListener("click", togglePause);
  $("concert-form").addEventListener("submit", addConcert);
  $("schedule-form").addEventListener("submit", addSchedule);
  $("lang").addEventListener("click", () => {
    toggleLanguage();
    render();
  });
  if (token) enter();
  else $("signin").hidden = false;
}

start();
