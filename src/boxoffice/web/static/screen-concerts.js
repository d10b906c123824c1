// The concerts on sale, each with a way into its line.
import { api } from "./api.js";
import { $, el, problemText, showNotice } from "./dom.js";
import { t } from "./i18n.js";
import { show, stop } from "./fan-state.js";
import { join } from "./screen-line.js";

export async function showConcerts() {
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
