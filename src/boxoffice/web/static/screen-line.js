// The waiting room: joining a concert's line, asking for our place until we are let
// in, the countdown to the opening, and leaving or losing the line.
import { api, serverNow } from "./api.js";
import { $, el, problemText, showNotice, venueTime } from "./dom.js";
import { clock, clockTime, t } from "./i18n.js";
import { after, every, onScreen, save, show, state, stop } from "./fan-state.js";
import { admitted } from "./screen-booking.js";
import { showConcerts } from "./screen-concerts.js";
import { signOut } from "./screen-signin.js";
import { access } from "./session.js";

const MAX_BACKOFF_S = 30;
// Challenges solved for one join before giving up: a second covers one that lapsed or
// was made harder by the operator while it was being solved.
const MAX_PROOFS = 2;
let lastStatus = null; // the line's last answer about us
let silence = 0; // how long the line keeps a place nobody asks about, as last told
let backoff = 1;
let proving = false; // a challenge is being solved: another join waits for it

export function forgetStatus() {
  lastStatus = null;
  silence = 0;
}

export async function join(concert, proof = undefined, proofs = 0) {
  if (proving && proof === undefined) return;
  try {
    const status = await api.join(access, concert.concertId, proof);
    const known = state.line?.token === status.token ? state.line : null;
    state.line = known || {
      token: status.token,
      concertId: concert.concertId,
      title: concert.title,
      timeZone: concert.timeZone,
      joinedAt: serverNow(),
      startPosition: status.position ?? 0,
      scheduleId: null,
    };
    save();
    showNotice("");
    onStatus(status);
  } catch (problem) {
    if (problem.status === 401) return signOut();
    if (problem.code === "challenge_required" && proofs < MAX_PROOFS) return prove(concert, proofs + 1);
    showNotice(problem.code === "sold_out" ? t("soldOutJoin", { title: concert.title }) : problemText(problem));
  } finally {
    if (proof !== undefined) proving = false;
  }
}

/** The line asks for proof of work first: solve its challenge (pow.js), showing how
 * far along, and join again with the solution. */
async function prove(concert, proofs) {
  proving = true;
  showNotice("");
  checking(0);
  let proof;
  try {
    // Fetched only by a fan whose line asks for proof of work.
    const [challenge, { solve }] = await Promise.all([
      api.challenge(access, concert.concertId),
      import("./pow.js"),
    ]);
    proof = await solve(challenge, checking);
  } catch (problem) {
    proving = false;
    if (problem.status === 401) return signOut();
    // A Problem has a status; an Error of the solver (a worker that failed) has none.
    return showNotice(problem?.status === undefined ? t("checkFailed") : problemText(problem));
  } finally {
    checking(null);
  }
  return join(concert, proof, proofs); // it lets other joins through once answered
}

/** The "checking your browser" line above the page's cards: share (0..1) of the
 * challenge's range tried so far, or null to take it away. */
function checking(share) {
  let box = $("checking");
  if (share === null) {
    if (box) box.hidden = true;
    return;
  }
  if (!box) {
    box = el("p", { id: "checking", class: "notice", role: "status", "data-kind": "ok" },
      el("span", { id: "checking-text" }), " ",
      el("progress", { id: "checking-progress", max: "100", value: "0" }));
    box.style.order = "-2";
    $("notice").after(box);
  }
  const percent = Math.floor(share * 100);
  box.hidden = false;
  box.dataset.percent = String(percent);
  $("checking-text").textContent = t("checkingBrowser", { n: percent });
  $("checking-progress").value = percent;
}

export async function poll() {
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
      after("poll", poll, backoff * 1000);
      return;
    }
    showNotice(problemText(problem));
    after("poll", poll, 5_000);
  }
}

function onStatus(status) {
  lastStatus = status;
  // A waiter's token lapses that long after its last poll; the line keeps a poll's
  // liveness a moment late (in batches), so the longest told is the closest.
  const told = Math.ceil((Date.parse(status.expiresAt) - serverNow()) / 5000) * 5;
  silence = Math.max(silence, told);
  if (status.status === "ADMITTED") return admitted();
  // Sold out: nothing left to wait for, but a refund could open the line again, so the
  // page keeps polling (rarely, as told) until the token lapses.
  const soldOut = status.status === "SOLD_OUT";
  if (Boolean(state.line.soldOut) !== soldOut) {
    state.line.soldOut = soldOut;
    save();
  }
  if (onScreen() !== "line") show("line");
  $("line-gone").hidden = true;
  renderLine();
  after("poll", poll, Math.max(1, status.pollAfterSeconds) * 1000);
}

export function renderLine() {
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
    $("prequeue-text").textContent = t("preQueue", { time: venueTime(status.salesOpenAt, line.timeZone) });
    document.title = t("titlePreQueue");
    openingTick();
    every("opening", openingTick, 250);
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
  // Before the opening nobody is dropped for silence; in line, a closed page is.
  $("keep-open").hidden = pre || soldOut || !(silence > 0);
  $("keep-open").textContent = t("keepOpen", { n: silence });
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

function waitText(seconds) {
  if (seconds == null) return t("waitEstimating");
  if (seconds < 60) return t("waitUnderMinute");
  return t("waitAbout", { n: Math.ceil(seconds / 60) });
}

function lineGone(message, again = true) {
  stop();
  const concert = state.line && {
    concertId: state.line.concertId,
    title: state.line.title,
    timeZone: state.line.timeZone,
  };
  state.line = null;
  save();
  show("line");
  $("line-gone-text").textContent = message;
  $("line-gone").hidden = false;
  $("leave").hidden = $("keep-place").hidden = true;
  $("prequeue").hidden = $("soldout").hidden = $("placed").hidden = $("paused").hidden = true;
  $("line-seats").hidden = $("keep-open").hidden = true;
  const button = $("join-again");
  button.dataset.t = again ? "joinAgain" : "backToConcerts";
  button.textContent = t(button.dataset.t);
  button.onclick = () => (again && concert ? join(concert) : showConcerts());
}

/** A refusal from behind the line (dates, seats, hold, pay): the token is gone. */
export function onGatedProblem(problem) {
  if (problem.status === 401) return lineGone(t("lineGone"));
  // Admitted by the default line, but the concert has since been given a line of its own.
  if (problem.code === "not_admitted") return lineGone(t("lineMoved"));
  showNotice(problemText(problem));
}

export async function leave() {
  try {
    if (state.line) await api.leave(state.line.token);
  } catch (problem) {
    if (problem.status !== 401) return showNotice(problemText(problem));
  }
  state.line = null;
  save();
  showConcerts();
}
