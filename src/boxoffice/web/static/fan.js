// The fan's visit: sign in, charge, wait in line, pick a seat, hold it, pay; and hand
// a ticket back.
// Everything needed to pick up where the fan was is in localStorage, so a reload
// at any step comes back to the same place in line or the same hold.
import { api, newKey, serverNow } from "./api.js";
import { $, confirmed, el, facts, problemText, showNotice } from "./dom.js";
import { applyTexts, clockTime, dateTime, points, t, toggleLanguage } from "./i18n.js";
import { renderSeats } from "./seatmap.js";

const STORE = "boxoffice.fan";
const CHARGE_AMOUNTS = [10_000, 50_000, 100_000];
const SEAT_REFRESH_MS = 5_000;
const LAPSE_SETTLE_MS = 2_500;
const MAX_BACKOFF_S = 30;
const SECTIONS = ["signin", "concerts", "line", "booking", "hold", "ticket"];

const state = load();
const timers = {};
let current = null; // the section on screen
let lastStatus = null;
let holding = null; // the reservation on hold, as the API answered it
let seatMap = null;
let backoff = 1;
let charging = false;
// Seats the server just refused us: shown HELD for as long as a seat map may lag
// the database (BOXOFFICE_SEAT_MAP_CACHE_MS, at most a second), even if one read from
// such a cache still says AVAILABLE.
const taken = new Map();
const TAKEN_MS = 1_500;

function load() {
  const empty = { user: null, line: null, hold: null, ticket: null, reservations: [], payKeys: {}, refundKeys: {}, pendingCharge: null };
  try {
    return { ...empty, ...JSON.parse(localStorage.getItem(STORE) || "{}") };
  } catch {
    return empty;
  }
}

function save() {
  localStorage.setItem(STORE, JSON.stringify(state));
}

function show(section, { focus = false } = {}) {
  current = section;
  for (const id of SECTIONS) $(id).hidden = id !== section;
  const signedIn = Boolean(state.user);
  $("wallet").hidden = !signedIn;
  for (const id of ["mine-toggle", "signout", "who"]) $(id).hidden = !signedIn;
  if (signedIn) $("who").textContent = t("hello", { name: state.user.name });
  if (section !== "line") document.title = t("titleIdle");
  if (focus) $(`${section}-title`)?.focus();
}

function stop(...names) {
  for (const name of names.length ? names : Object.keys(timers)) {
    clearTimeout(timers[name]);
    clearInterval(timers[name]);
    delete timers[name];
  }
}

// ---- signing in and the wallet ------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const name = $("name").value.trim();
  if (!name) return;
  try {
    const user = await api.register(name);
    state.user = { userId: user.userId, name: user.name, accessToken: user.accessToken };
    save();
    showNotice("");
    await refreshBalance();
    route();
  } catch (problem) {
    showNotice(problemText(problem));
  }
}

function signOut() {
  stop();
  localStorage.removeItem(STORE);
  Object.assign(state, load());
  holding = lastStatus = seatMap = null;
  $("mine").hidden = true;
  showNotice("");
  show("signin");
}

async function refreshBalance() {
  try {
    const wallet = await api.wallet(state.user.accessToken);
    renderBalance(wallet.balance);
    return wallet.balance;
  } catch (problem) {
    if (problem.status === 401) return signOut();
    showNotice(problemText(problem));
    return null;
  }
}

function renderBalance(balance) {
  const out = $("balance");
  out.dataset.balance = String(balance);
  out.textContent = points(balance);
}

function renderCharges() {
  $("charges").replaceChildren(
    ...CHARGE_AMOUNTS.map((amount) =>
      el("button", {
        type: "button",
        class: "charge",
        "data-amount": amount,
        "aria-label": t("chargeLabel", { n: amount }),
        text: t("charge", { n: amount }),
        onclick: () => charge(amount),
      }),
    ),
  );
}

/** One charge per click: buttons are off while it is in flight, and a retry after a
 * lost answer sends the same Idempotency-Key, so the server applies it once. */
async function charge(amount) {
  if (charging) return false;
  charging = true;
  for (const button of $("charges").children) button.disabled = true;
  const pending =
    state.pendingCharge?.amount === amount ? state.pendingCharge : { amount, key: newKey() };
  state.pendingCharge = pending;
  save();
  try {
    const result = await api.charge(state.user.accessToken, amount, pending.key);
    state.pendingCharge = null;
    renderBalance(result.balance);
    showNotice(t("charged", { n: result.charged }), "ok");
    return true;
  } catch (problem) {
    if (problem.status !== 0 && problem.status !== 503) state.pendingCharge = null;
    showNotice(problemText(problem));
    return false;
  } finally {
    save();
    charging = false;
    for (const button of $("charges").children) button.disabled = false;
  }
}

// ---- concerts and the line ------------------------------------------------------

async function showConcerts() {
  stop();
  show("concerts");
  try {
    const { items } = await api.concerts();
    $("concert-list").replaceChildren(
      ...(items.length
        ? items.map((c) =>
            el(
              "li",
              {},
              el("span", { class: "grow" }, el("strong", { text: c.title }), el("br"), el("span", { class: "muted", text: c.venue })),
              el("button", {
                type: "button",
                class: "primary",
                "aria-label": t("joinLineFor", { title: c.title }),
                text: t("joinLine"),
                onclick: () => join(c),
              }),
            ),
          )
        : [el("li", { class: "muted", text: t("concertsEmpty") })]),
    );
  } catch (problem) {
    showNotice(problemText(problem));
  }
}

async function join(concert) {
  try {
    const status = await api.join(state.user.accessToken, concert.concertId);
    const known = state.line?.token === status.token ? state.line : null;
    state.line = known || {
      token: status.token,
      concertId: concert.concertId,
      title: concert.title,
      joinedAt: serverNow(),
      startPosition: status.position ?? 0,
      scheduleId: null,
    };
    save();
    showNotice("");
    onStatus(status);
  } catch (problem) {
    if (problem.status === 401) return signOut();
    showNotice(problem.code === "sold_out" ? t("soldOutJoin", { title: concert.title }) : problemText(problem));
  }
}

async function poll() {
  stop("poll");
  if (!state.line) return;
  try {
    const status = await api.status(state.line.token);
    backoff = 1;
    onStatus(status);
  } catch (problem) {
    if (problem.status === 401) {
      return state.line.soldOut ? lineGone(t("soldOut", { title: state.line.title }), false) : lineGone(t("lineGone"));
    }
    if (problem.status === 503 || problem.status === 0) {
      backoff = problem.retryAfter ?? Math.min(MAX_BACKOFF_S, backoff * 2);
      showNotice(t(problem.status === 0 ? "offline" : "busy", { n: backoff }));
      timers.poll = setTimeout(poll, backoff * 1000);
      return;
    }
    showNotice(problemText(problem));
    timers.poll = setTimeout(poll, 5_000);
  }
}

function onStatus(status) {
  lastStatus = status;
  if (status.status === "ADMITTED") return admitted();
  // Sold out: nothing left to wait for, but a refund could open the line again, so the
  // page keeps polling (rarely, as told) until the token lapses.
  const soldOut = status.status === "SOLD_OUT";
  if (Boolean(state.line.soldOut) !== soldOut) {
    state.line.soldOut = soldOut;
    save();
  }
  if (current !== "line") show("line");
  $("line-gone").hidden = true;
  renderLine();
  timers.poll = setTimeout(poll, Math.max(1, status.pollAfterSeconds) * 1000);
}

function renderLine() {
  const status = lastStatus;
  const line = state.line;
  if (!status || !line) return;
  showNotice("");
  const pre = status.status === "PRE_QUEUE";
  const soldOut = status.status === "SOLD_OUT";
  $("line-concert").textContent = t("lineFor", { title: line.title });
  $("joined").textContent = t("joinedAt", { time: clockTime(line.joinedAt) });
  $("prequeue").hidden = !pre;
  $("soldout").hidden = !soldOut;
  $("placed").hidden = pre || soldOut;
  $("leave").hidden = $("keep-place").hidden = soldOut;
  stop("opening");
  if (pre) {
    // Before the opening there is no place yet: one draw orders everyone at once.
    $("prequeue-text").textContent = t("preQueue", { time: dateTime(status.salesOpenAt) });
    document.title = t("titlePreQueue");
    openingTick();
    timers.opening = setInterval(openingTick, 250);
  } else if (soldOut) {
    $("soldout-text").textContent = t("soldOut", { title: line.title });
    document.title = t("titleSoldOut");
  } else {
    const ahead = status.position - 1;
    $("position").textContent = ahead > 0 ? t("ahead", { n: ahead }) : t("aheadNone");
    $("position").dataset.position = String(status.position);
    const start = Math.max(line.startPosition, status.position);
    $("progress").max = start;
    $("progress").value = start - status.position;
    $("wait").textContent = waitText(status.estimatedWaitSeconds);
    document.title = t("titleWaiting", { n: status.position });
  }
  const seatsLeft = typeof status.seatsLeft === "number" && !soldOut;
  $("line-seats").hidden = !seatsLeft;
  if (seatsLeft) $("line-seats").textContent = t("seatsLeft", { n: status.seatsLeft });
  $("paused").hidden = !(status.paused === true && !soldOut);
  $("paused").textContent = t("pausedNote");
}

/** Time to the opening by the server's clock, as the hold's countdown is. */
function openingTick() {
  const left = Date.parse(lastStatus.salesOpenAt) - serverNow();
  const seconds = Math.max(0, Math.ceil(left / 1000));
  const out = $("opens-countdown");
  out.textContent = seconds ? clock(seconds) : t("openingNow");
  out.dateTime = `PT${seconds}S`;
  out.dataset.seconds = String(seconds);
}

function clock(seconds) {
  const [h, m, s] = [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60];
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

function waitText(seconds) {
  if (seconds == null) return t("waitEstimating");
  if (seconds < 60) return t("waitUnderMinute");
  return t("waitAbout", { n: Math.ceil(seconds / 60) });
}

function lineGone(message, again = true) {
  stop();
  const concert = state.line && { concertId: state.line.concertId, title: state.line.title };
  state.line = null;
  save();
  show("line");
  $("line-gone-text").textContent = message;
  $("line-gone").hidden = false;
  $("leave").hidden = $("keep-place").hidden = true;
  $("prequeue").hidden = $("soldout").hidden = $("placed").hidden = $("paused").hidden = true;
  $("line-seats").hidden = true;
  const button = $("join-again");
  button.dataset.t = again ? "joinAgain" : "backToConcerts";
  button.textContent = t(button.dataset.t);
  button.onclick = () => (again && concert ? join(concert) : showConcerts());
}

async function leave() {
  try {
    if (state.line) await api.leave(state.line.token);
  } catch (problem) {
    if (problem.status !== 401) return showNotice(problemText(problem));
  }
  state.line = null;
  save();
  showConcerts();
}

// ---- admitted: dates and seats ---------------------------------------------------

function admitted() {
  stop("poll", "opening");
  const first = current !== "booking";
  show("booking", { focus: first });
  document.title = t("titleAdmitted");
  if (first) loadDates();
}

async function loadDates() {
  try {
    const { schedules } = await api.schedules(state.line.token, state.line.concertId);
    const open = schedules.filter((s) => s.availableSeats > 0);
    $("dates").replaceChildren(
      ...(open.length
        ? open.map((s) =>
            el(
              "li",
              {},
              el("button", {
                type: "button",
                class: "date",
                "aria-pressed": String(s.scheduleId === state.line.scheduleId),
                "data-schedule-id": s.scheduleId,
                text: `${dateTime(s.concertAt)} · ${t("seatsLeft", { n: s.availableSeats })}`,
                onclick: () => pickDate(s.scheduleId),
              }),
            ),
          )
        : [el("li", { class: "muted", text: t("noDates") })]),
    );
    const chosen = open.find((s) => s.scheduleId === state.line.scheduleId);
    if (chosen) loadSeats();
  } catch (problem) {
    onGatedProblem(problem);
  }
}

function pickDate(scheduleId) {
  state.line.scheduleId = scheduleId;
  save();
  for (const b of $("dates").querySelectorAll("button")) {
    b.setAttribute("aria-pressed", String(Number(b.dataset.scheduleId) === scheduleId));
  }
  $("seat-note").hidden = true;
  loadSeats();
}

async function loadSeats() {
  stop("seats");
  if (!state.line?.scheduleId) return;
  try {
    seatMap = await api.seats(state.line.token, state.line.concertId, state.line.scheduleId);
    renderSeatMap();
    if (current === "booking") timers.seats = setTimeout(loadSeats, SEAT_REFRESH_MS);
  } catch (problem) {
    onGatedProblem(problem);
  }
}

function renderSeatMap() {
  if (!seatMap) return;
  $("seatmap").hidden = false;
  $("seatmap-title").textContent = t("seatMapTitle", { date: dateTime(seatMap.concertAt) });
  const now = Date.now();
  const seats = seatMap.seats.map((seat) =>
    seat.status === "AVAILABLE" && taken.get(seat.seatId) > now ? { ...seat, status: "HELD" } : seat,
  );
  renderSeats($("seats"), seats, pickSeat);
}

async function pickSeat(seat) {
  if (holding) return;
  $("seats").setAttribute("aria-busy", "true");
  try {
    const reservation = await api.hold(state.line.token, seatMap.scheduleId, seat.seatId);
    state.hold = { reservationId: reservation.reservationId };
    if (!state.reservations.includes(reservation.reservationId)) {
      state.reservations.push(reservation.reservationId);
    }
    save();
    showHold(reservation);
  } catch (problem) {
    if (problem.code === "seat_unavailable") {
      taken.set(seat.seatId, Date.now() + TAKEN_MS);
      $("seat-note").textContent = t("seatTaken", { number: seat.seatNumber });
      $("seat-note").hidden = false;
      await loadSeats();
    } else {
      onGatedProblem(problem);
    }
  } finally {
    $("seats").removeAttribute("aria-busy");
  }
}

function onGatedProblem(problem) {
  if (problem.status === 401) return lineGone(t("lineGone"));
  // Admitted by the default line, but the concert has since been given a line of its own.
  if (problem.code === "not_admitted") return lineGone(t("lineMoved"));
  showNotice(problemText(problem));
}

// ---- the hold and the payment ---------------------------------------------------

function showHold(reservation) {
  stop("seats", "countdown");
  holding = reservation;
  show("hold", { focus: true });
  renderHold();
  $("hold-lapsed").hidden = true;
  $("low-balance").hidden = true;
  $("pay").hidden = $("release").hidden = false;
  tick();
  timers.countdown = setInterval(tick, 250);
}

function renderHold() {
  if (!holding) return;
  const r = holding;
  $("hold-intro").textContent = t("holdIntro", { number: r.seatNumber });
  facts($("hold-facts"), [
    [t("concert"), r.concertTitle],
    [t("date"), dateTime(r.concertAt)],
    [t("seat"), String(r.seatNumber)],
    [t("price"), points(r.price)],
  ]);
  $("pay").textContent = t("pay", { price: points(r.price) });
}

/** Time left by the server's clock: the hold lapses at heldUntil on the server. */
function tick() {
  const left = Date.parse(holding.heldUntil) - serverNow();
  const seconds = Math.max(0, Math.ceil(left / 1000));
  const out = $("countdown");
  out.textContent = clock(seconds);
  out.dateTime = `PT${seconds}S`;
  out.dataset.seconds = String(seconds);
  if (left <= 0) lapsed();
}

function lapsed() {
  stop("countdown");
  const number = holding?.seatNumber;
  holding = null;
  state.hold = null;
  save();
  // The seat map comes back under the lapsed hold; it is read again once the server
  // has surely let the hold go too (our countdown may end a moment before its own).
  show("booking");
  $("hold").hidden = false;
  $("hold-lapsed").textContent = t("holdLapsed", { number });
  $("hold-lapsed").hidden = false;
  $("pay").hidden = $("release").hidden = true;
  $("low-balance").hidden = true;
  loadDates().then(() => {
    stop("seats");
    timers.seats = setTimeout(loadSeats, LAPSE_SETTLE_MS);
  });
}

async function release() {
  const r = holding;
  try {
    await api.release(state.line?.token, r.reservationId);
  } catch (problem) {
    if (problem.status !== 404) return onGatedProblem(problem);
  }
  stop("countdown");
  holding = null;
  state.hold = null;
  save();
  admitted();
  $("seat-note").textContent = t("released", { number: r.seatNumber });
  $("seat-note").hidden = false;
}

async function pay() {
  const r = holding;
  if (!r) return;
  $("pay").disabled = true;
  const key = (state.payKeys[r.reservationId] ||= newKey());
  save();
  try {
    const payment = await api.pay(state.line?.token, r.reservationId, key);
    paid(r, payment);
  } catch (problem) {
    if (problem.code === "insufficient_balance") await offerCharge(r);
    else if (problem.code === "hold_expired") lapsed();
    else if (problem.code === "already_paid") await alreadyPaid(r);
    else onGatedProblem(problem);
  } finally {
    $("pay").disabled = false;
  }
}

function paid(r, payment) {
  stop();
  // A payment that leaves no live hold spends the queue token: the visit is over.
  state.ticket = {
    concertTitle: r.concertTitle,
    concertAt: r.concertAt,
    seatNumber: r.seatNumber,
    price: payment.amount,
    paidAt: payment.paidAt,
    balance: payment.balance,
  };
  state.hold = null;
  state.line = null;
  delete state.payKeys[r.reservationId];
  holding = null;
  save();
  renderBalance(payment.balance);
  showTicket();
}

async function alreadyPaid(r) {
  const balance = await refreshBalance();
  paid(r, { amount: r.price, paidAt: new Date(serverNow()).toISOString(), balance });
}

async function offerCharge(r) {
  const balance = await refreshBalance();
  if (balance == null) return;
  const missing = Math.max(1, r.price - balance);
  const amount = Math.ceil(missing / 10_000) * 10_000;
  $("low-balance-text").textContent = t("lowBalance", { balance: points(balance), price: points(r.price) });
  const button = $("charge-and-pay");
  button.textContent = t("chargeAndPay", { n: amount });
  button.onclick = async () => {
    button.disabled = true;
    try {
      if (await charge(amount)) {
        $("low-balance").hidden = true;
        await pay();
      }
    } finally {
      button.disabled = false;
    }
  };
  $("low-balance").hidden = false;
}

function showTicket() {
  show("ticket", { focus: true });
  const k = state.ticket;
  facts($("ticket-facts"), [
    [t("concert"), k.concertTitle],
    [t("date"), dateTime(k.concertAt)],
    [t("seat"), String(k.seatNumber)],
    [t("price"), points(k.price)],
    [t("paidAt"), dateTime(k.paidAt)],
    [t("remaining"), points(k.balance)],
  ]);
}

// ---- my tickets -------------------------------------------------------------------

async function toggleMine() {
  const panel = $("mine");
  panel.hidden = !panel.hidden;
  $("mine-toggle").setAttribute("aria-expanded", String(!panel.hidden));
  $("mine-toggle").textContent = t(panel.hidden ? "mineShow" : "mineHide");
  if (!panel.hidden) {
    $("mine-title").focus();
    await loadMine();
  }
}

async function loadMine() {
  const access = state.user.accessToken;
  try {
    const found = await Promise.all(
      state.reservations.map((id) => api.reservation(access, id).catch(() => null)),
    );
    const mine = found.filter(Boolean).reverse();
    $("mine-list").replaceChildren(
      mine.length
        ? table(
            [t("concert"), t("seat"), t("price"), t("status")],
            mine.map((r) => [
              el("span", {}, r.concertTitle, el("br"), el("span", { class: "muted", text: `${dateTime(r.concertAt)} · #${r.reservationId}` })),
              String(r.seatNumber),
              points(r.price),
              el(
                "span",
                {},
                t(`status${r.status}`),
                ...(r.status === "CONFIRMED" ? [el("br"), refundButton(r)] : []),
              ),
            ]),
            mine.map((r) => r.reservationId),
          )
        : el("p", { class: "muted", text: t("mineEmpty") }),
    );
    const { items } = await api.ledger(access);
    if (items.length) renderBalance(items[0].balanceAfter); // newest first: the balance now
    $("ledger").replaceChildren(
      items.length
        ? table(
            [t("when"), t("type"), t("amount"), t("balance")],
            items.map((e) => [dateTime(e.createdAt), t(`type${e.type}`), points(e.amount), points(e.balanceAfter)]),
          )
        : el("p", { class: "muted", text: t("ledgerEmpty") }),
    );
  } catch (problem) {
    showNotice(problemText(problem));
  }
}

function refundButton(r) {
  return el("button", {
    type: "button",
    class: "link",
    text: t("refund"),
    "aria-label": t("refundLabel", { title: r.concertTitle, number: r.seatNumber }),
    onclick: () => refund(r),
  });
}

const REFUND_REFUSED = { refund_closed: "refundClosed", already_refunded: "alreadyRefunded", not_paid: "notPaid" };

/** Hand a paid ticket back, after a confirmation. One Idempotency-Key per ticket, kept
 * until the server has answered, so a retry after a lost answer refunds once. */
async function refund(r) {
  const question = t("confirmRefund", {
    title: r.concertTitle,
    date: dateTime(r.concertAt),
    number: r.seatNumber,
    price: points(r.price),
  });
  if (!(await confirmed(question))) return;
  const key = (state.refundKeys[r.reservationId] ||= newKey());
  save();
  try {
    const done = await api.refund(state.user.accessToken, r.reservationId, key);
    renderBalance(done.balance);
    showNotice(t("refunded", { price: points(done.amount), balance: points(done.balance) }), "ok");
  } catch (problem) {
    if (problem.status === 0 || problem.status === 503) return showNotice(problemText(problem));
    showNotice(REFUND_REFUSED[problem.code] ? t(REFUND_REFUSED[problem.code]) : problemText(problem));
  }
  delete state.refundKeys[r.reservationId];
  save();
  await loadMine();
}

function table(head, rows, ids = []) {
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...rows.map((cells, i) => el("tr", { "data-id": ids[i] }, ...cells.map((c) => el("td", {}, c))))),
  );
}

// ---- where to start ---------------------------------------------------------------

async function route() {
  if (!state.user) return show("signin");
  if (state.ticket) return showTicket();
  if (state.hold) {
    try {
      const r = await api.reservation(state.user.accessToken, state.hold.reservationId);
      if (r.status === "HELD" && Date.parse(r.heldUntil) > serverNow()) return showHold(r);
    } catch {
      // gone or not ours any more: carry on without it
    }
    state.hold = null;
    save();
  }
  if (state.line) {
    show("line");
    return poll();
  }
  return showConcerts();
}

function rerender() {
  applyTexts(document);
  renderCharges();
  if (state.user) $("who").textContent = t("hello", { name: state.user.name });
  if (current === "line") renderLine();
  if (current === "booking") {
    document.title = t("titleAdmitted");
    loadDates();
  }
  if (current === "hold") renderHold();
  if (current === "ticket") showTicket();
  if (current === "concerts") showConcerts();
  if (state.user) refreshBalance();
  if (!$("mine").hidden) loadMine();
}

function start() {
  applyTexts(document);
  renderCharges();
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  $("lang").addEventListener("click", () => {
    toggleLanguage();
    rerender();
  });
  $("mine-toggle").addEventListener("click", toggleMine);
  $("leave").addEventListener("click", leave);
  $("soldout-leave").addEventListener("click", leave);
  $("refresh-seats").addEventListener("click", loadSeats);
  $("pay").addEventListener("click", pay);
  $("release").addEventListener("click", release);
  $("buy-another").addEventListener("click", () => {
    state.ticket = null;
    save();
    showConcerts();
  });
  if (state.user) refreshBalance();
  route();
}

start();
