// "Find a fan", for the support desk: by email or user no., who they are and their
// tickets, holds, payments and points history, newest first.
import { admin } from "./admin-api.js";
import { $, bookingNo, el, facts, HERE, ledgerTable, table, venueTime } from "./dom.js";
import { points, t } from "./i18n.js";

let found = null;

/** failed(problem) is the room's handler for anything but "no such fan". */
export async function findFan(token, failed) {
  const typed = $("fan-query").value.trim();
  try {
    found = await admin.fan(token, /^\d+$/.test(typed) ? { userId: typed } : { email: typed });
  } catch (problem) {
    found = null;
    if (problem.code !== "not_found") return failed(problem);
    return $("fan-found").replaceChildren(el("p", { class: "warn", text: t("noFan") }));
  }
  renderFan();
}

export function renderFan() {
  if (!found) return;
  const f = found;
  const details = el("dl", { class: "facts" });
  facts(details, [
    [t("fanNo"), `#${f.userId}`],
    [t("fanName"), f.name],
    [t("emailLabel"), f.email ?? "–"],
    [t("fanKind"), t(`kind_${f.kind}`)],
    [t("balance"), points(f.balance)],
  ]);
  const held = (r) => r.status === "HELD" || r.status === "EXPIRED";
  const payments = table(
    [t("paymentNo"), t("refundIdLabel"), t("amount"), t("paidAt")],
    f.payments.map((p) => [`#${p.paymentId}`, `#${p.reservationId}`, points(p.amount), venueTime(p.paidAt, HERE)]),
    [],
    "ledgerEmpty",
  );
  const title = (key) => el("h3", { text: t(key) });
  $("fan-found").replaceChildren(
    details,
    title("ticketsTitle"),
    reservationTable(f.reservations.filter((r) => !held(r))),
    title("holdsTitle"),
    reservationTable(f.reservations.filter(held)),
    title("paymentsTitle"),
    payments,
    title("ledgerTitle"),
    ledgerTable(f.ledger),
  );
}

/** A fan's reservations as the support desk sees them: each show on its venue's clock. */
function reservationTable(items) {
  const cells = (r) => [
    el("span", {}, r.concertTitle, el("br"), el("span", { class: "muted", text: `${venueTime(r.concertAt, r.timeZone)} · ${bookingNo(r)} · #${r.reservationId}` })),
    [r.section, r.row, r.label ?? r.seatNumber].filter((x) => x != null).join(" · "),
    points(r.price),
    t(`status${r.status}`),
  ];
  const head = [t("concert"), t("seat"), t("price"), t("status")];
  return table(head, items.map(cells), items.map((r) => r.reservationId), "mineEmpty");
}
