// The language of the page: chosen from the browser, switchable, remembered. Only the
// language in use is fetched (each has every text: tests/unit/test_page_texts.py): the
// texts of both pages, and those of the page's own part named by <html data-texts>
// (the control room's, text-<lang>-operator.js), which the fan's page never loads.
const LANGUAGES = ["en", "ko"];
const KEY = "boxoffice.lang";
const PART = document.documentElement.dataset.texts;
const TEXTS = {};
let lang = pickLanguage();
TEXTS[lang] = await textsOf(lang);

async function textsOf(name) {
  const parts = [import(`./text-${name}.js`)];
  if (PART) parts.push(import(`./text-${name}-${PART}.js`));
  return Object.assign({}, ...(await Promise.all(parts)).map((part) => part.default));
}

function pickLanguage() {
  const chosen = localStorage.getItem(KEY);
  if (LANGUAGES.includes(chosen)) return chosen;
  const wanted = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const tag of wanted) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

export const language = () => lang;

export async function setLanguage(next) {
  const wanted = LANGUAGES.includes(next) ? next : "en";
  TEXTS[wanted] ??= await textsOf(wanted);
  lang = wanted;
  localStorage.setItem(KEY, lang);
  applyTexts(document);
}

export function toggleLanguage() {
  return setLanguage(lang === "ko" ? "en" : "ko");
}

/** The text for key in the current language; {name} filled from vars, and a
 * {one, other} entry chosen by vars.n. */
export function t(key, vars = {}) {
  let text = TEXTS[lang][key] ?? key;
  if (typeof text === "object") {
    text = text[new Intl.PluralRules(lang).select(vars.n ?? 0)] ?? text.other;
  }
  return text.replace(/\{(\w+)\}/g, (_, name) => {
    const value = vars[name];
    return typeof value === "number" ? number(value) : String(value ?? "");
  });
}

/** Whether either language has words for key. */
export const hasText = (key) => key in TEXTS[lang];

export const number = (n) => new Intl.NumberFormat(lang).format(n);
export const points = (n) => t("points", { n });

export function clockTime(ms) {
  return new Intl.DateTimeFormat(lang, { timeStyle: "medium" }).format(new Date(ms));
}

/** A countdown's seconds as m:ss, or h:mm:ss from an hour up. */
export function clock(seconds) {
  const [h, m, s] = [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60];
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** Fill every data-t (text), data-t-label (aria-label) and data-t-placeholder. */
export function applyTexts(root) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  for (const el of root.querySelectorAll("[data-t-label]")) {
    el.setAttribute("aria-label", t(el.dataset.tLabel));
  }
  for (const el of root.querySelectorAll("[data-t-placeholder]")) {
    el.setAttribute("placeholder", t(el.dataset.tPlaceholder));
  }
}
