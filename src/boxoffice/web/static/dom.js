// Small DOM helpers shared by both pages.
import { hasText, language, points, t } from "./i18n.js";

export const $ = (id) => document.getElementById(id);

/** An element with attributes (on* become listeners) and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** A <dl> filled with [term, value] pairs. */
export function facts(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([term, value]) => [el("dt", { text: term }), el("dd", { text: value })]));
}

/** A table of rows of cells (text or nodes), each row's data-id from ids; with no
 * rows, the text of key empty. Each cell names its column (data-label), which a narrow
 * screen shows beside it when the rows become cards. */
export function table(head, rows, ids, empty) {
  if (!rows.length) return el("p", { class: "muted", text: t(empty) });
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", text: h })))),
    el(
      "tbody",
      {},
      ...rows.map((cells, i) =>
        el("tr", { "data-id": ids[i] }, ...cells.map((c, j) => el("td", { "data-label": head[j] }, c))),
      ),
    ),
  );
}

/** Seats bought together share their order's number; a seat bought alone has its
 * reservation's, told apart by an R. */
export function bookingNo(r) {
  const pad = (n) => String(n).padStart(6, "0");
  return r.orderId ? `BX-${pad(r.orderId)}` : `BX-R${pad(r.reservationId)}`;
}

export function ledgerTable(items) {
  const cells = (e) => [venueTime(e.createdAt, HERE), t(`type${e.type}`), points(e.amount), points(e.balanceAfter)];
  return table([t("when"), t("type"), t("amount"), t("balance")], items.map(cells), [], "ledgerEmpty");
}

// A concert's time is read on the venue's clock wherever its reader is: a 19:00 show
// in Seoul says 19:00 KST in New York too. Anything else (a payment, a ledger entry)
// is read on the reader's own clock (HERE), and says which.
export const HERE = Intl.DateTimeFormat().resolvedOptions().timeZone;
const SHORT = { "Asia/Seoul": "KST", "Asia/Tokyo": "JST" }; // CLDR says GMT+9

/** iso (or ms) on the clock of timeZone (absent in older answers: Seoul), in the page's
 * language, with the weekday and the zone: "Mon, Dec 14, 7:00 PM KST", "12월 14일 (월)
 * 오후 7:00 KST"; the year only when it is not this one. */
export function venueTime(iso, timeZone) {
  timeZone ||= "Asia/Seoul";
  const at = new Date(iso);
  const of = (options, lang = "en-US") => new Intl.DateTimeFormat(lang, { timeZone, ...options });
  const year = of({ year: "numeric" });
  const options = { weekday: "short", month: "short", day: "numeric", hour: "numeric", minute: "2-digit" };
  if (year.format(at) !== year.format(Date.now())) options.year = "numeric";
  const name = SHORT[timeZone] ?? of({ timeZoneName: "short" }).formatToParts(at).at(-1).value;
  return `${of(options, language()).format(at)} ${name}`.replace(/\s/g, " ");
}

/** Words for a problem in the page's language, from its code (the server's detail is
 * English); a code the page has no words for reads as "something went wrong". */
export function problemText(problem) {
  if (problem?.status === 0) return t("offline", { n: 5 });
  const key = `problem_${problem?.code}`;
  return hasText(key) ? t(key, { n: problem.retryAfter ?? 5 }) : t("unexpected");
}

/** Ask in the page's dialog; resolves true when confirmed. With a word to type, the
 * confirm button stays off until it is typed (for what cannot be undone). */
export function confirmed(text, word = "") {
  const dialog = $("confirm");
  const yes = $("confirm-yes");
  const typed = $("confirm-word");
  $("confirm-text").textContent = text;
  yes.disabled = Boolean(word);
  if (typed) {
    typed.value = "";
    $("confirm-typed").hidden = !word;
    $("confirm-word-label").textContent = t("typeToConfirm", { word });
    typed.oninput = () => (yes.disabled = typed.value.trim().toUpperCase() !== word.toUpperCase());
  }
  return new Promise((resolve) => {
    const done = (answer) => {
      dialog.close();
      yes.onclick = $("confirm-no").onclick = dialog.oncancel = null;
      resolve(answer);
    };
    yes.onclick = () => done(true);
    $("confirm-no").onclick = () => done(false);
    dialog.oncancel = () => done(false);
    dialog.showModal();
    (word ? typed : $("confirm-no")).focus();
  });
}

/** Whether what node shows must be redrawn: false while value (in this language) is
 * what it already shows, so a refresh does not take away focus or a selection. */
export function changed(node, value) {
  const key = JSON.stringify([document.documentElement.lang, value]);
  if (node.dataset.shown === key) return false;
  node.dataset.shown = key;
  return true;
}

export function showNotice(text, kind = "error") {
  const box = $("notice");
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = !text;
}
