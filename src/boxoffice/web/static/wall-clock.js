// Times the operator types, read on a venue's clock (a concert's IANA time zone), not
// the browser's: a show at 19:00 in Seoul typed in New York is 10:00 UTC.
const DAY = 86_400_000;

/** The clock of timeZone at ms, as a datetime-local value "YYYY-MM-DDTHH:MM:SS". */
export function wallClock(ms, timeZone) {
  const two = "2-digit";
  const options = { timeZone, hourCycle: "h23", year: "numeric", month: two, day: two, hour: two, minute: two, second: two };
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-US", options).formatToParts(ms).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}`;
}

/** The instant (ms) at which the clock of timeZone reads wall (a datetime-local
 * value). A time the clocks skip (02:30 as they spring forward) is read with the
 * offset before the change (03:30 after it); a time they show twice, as the first:
 * as Python's zoneinfo reads them (fold=0). */
export function zonedInstant(wall, timeZone) {
  const local = Date.parse(`${wall}Z`);
  const offset = (ms) => Date.parse(`${wallClock(ms, timeZone)}Z`) - Math.floor(ms / 1000) * 1000;
  const [before, after] = [offset(local - DAY), offset(local + DAY)];
  const fits = [local - before, local - after].filter((ms) => offset(ms) === local - ms);
  return fits.length ? Math.min(...fits) : local - before;
}

/** Whether this browser knows timeZone by that name. */
export function knownZone(timeZone) {
  try {
    return Boolean(timeZone && new Intl.DateTimeFormat("en", { timeZone }));
  } catch {
    return false;
  }
}
