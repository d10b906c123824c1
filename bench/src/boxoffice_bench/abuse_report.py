"""The abuse run as markdown (its section of docs/benchmarks.md) and its verdicts,
one per target of the issue."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

from boxoffice_bench.abuse import FLOODER_ADDRESS, AbuseResult, ScenarioResult
from boxoffice_bench.abuse_polls import CONNECTIONS, TARGET_SHARE, THROTTLE

SECTION = "abuse"
HEADING = "## Abuse: one flooder against 200 fans"
# "Opens at most a few accounts a minute": read as this many.
FEW_ACCOUNTS_PER_MINUTE = 5
HIGH_SCRIPT_CPU_SECONDS = 1.0
HIGH_CHROMIUM_SECONDS = 2.0
LOW_FAN_SECONDS = 0.3


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    met: bool | None  # None: not measured

    @property
    def word(self) -> str:
        return {True: "met", False: "**not met**", None: "not measured"}[self.met]


def _limited(result: AbuseResult) -> list[ScenarioResult]:
    return [r for r in result.scenarios if r.scenario.limits]


def _worst(r: ScenarioResult) -> int | None:
    shifts = r.displacements
    return max(shifts) if shifts else None


def verdicts(result: AbuseResult) -> list[Verdict]:
    limited = _limited(result)
    found = []
    if limited:
        places = {r.scenario.name: (r.flooder_places, r.cap) for r in limited}
        found.append(
            Verdict(
                "one address holds at most `placesPerAddress` places",
                "; ".join(f"{name}: {held} (cap {cap})" for name, (held, cap) in places.items()),
                all(cap is not None and held <= cap for held, cap in places.values()),
            )
        )
        rates = [r.flood.accounts_per_minute for r in limited if not r.scenario.accounts_ahead]
        found.append(
            Verdict(
                f"one address opens at most a few (≤ {FEW_ACCOUNTS_PER_MINUTE}) accounts a minute",
                f"{max(rates):.0f} a minute at most ({min(rates):.0f} at least; a run under a"
                " minute counts as one)",
                max(rates) <= FEW_ACCOUNTS_PER_MINUTE,
            )
        )
        refused = {r.scenario.name: sum(r.refused.values()) for r in limited}
        found.append(
            Verdict(
                "honest fans refused 0 times",
                ", ".join(f"{name}: {n}" for name, n in refused.items()),
                all(
                    n == 0 and r.not_in_line == 0
                    for n, r in zip(refused.values(), limited, strict=True)
                ),
            )
        )
        worst = [(r, _worst(r)) for r in limited]
        found.append(
            Verdict(
                "each fan within `placesPerAddress` of their arrival rank",
                ", ".join(f"{r.scenario.name}: worst {w}" for r, w in worst),
                all(w is not None and r.cap is not None and w <= r.cap for r, w in worst),
            )
        )
    costs = {c.level: c for c in result.costs}
    high, low = costs.get("high"), costs.get("low")
    if high is not None:
        found.append(
            Verdict(
                f"`high`: a script ≥ {HIGH_SCRIPT_CPU_SECONDS:g} CPU-s per place, Chromium "
                f"≤ {HIGH_CHROMIUM_SECONDS:g} s median",
                f"{_s(high.python_cpu_seconds)} CPU-s, Chromium {_s(high.chromium_median)} s",
                None
                if high.python_cpu_seconds is None or high.chromium_median is None
                else high.python_cpu_seconds >= HIGH_SCRIPT_CPU_SECONDS
                and high.chromium_median <= HIGH_CHROMIUM_SECONDS,
            )
        )
    if low is not None:
        found.append(
            Verdict(
                f"`low` costs a fan under {LOW_FAN_SECONDS:g} s",
                f"Chromium median {_s(low.chromium_median)} s",
                None if low.chromium_median is None else low.chromium_median < LOW_FAN_SECONDS,
            )
        )
    polls = result.polls
    found.append(
        Verdict(
            f"limits on cost the status poll at most {1 - TARGET_SHARE:.0%}",
            "—"
            if polls is None
            else f"{polls.ratio:.0%} of its rate with them off (share of the ceiling);"
            f" raw {polls.rate(True):,.0f} against {polls.rate(False):,.0f} req/s",
            None if polls is None else polls.met,
        )
    )
    return found


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _scenario_row(r: ScenarioResult) -> str:
    shifts = r.displacements
    shift = f"{median(shifts):g} / {max(shifts)}" if shifts else "—"
    refused = sum(r.refused.values())
    detail = ", ".join(f"{what}: {n}" for what, n in sorted(r.refused.items()))
    f = r.flood
    return (
        f"| {r.scenario.name} | {'on' if r.scenario.limits else 'off'} "
        f"| {'none' if r.cap is None else r.cap} | {r.line.get('challenge', r.scenario.challenge)} "
        f"| {f.accounts:,} ({f.accounts_per_minute:,.0f}/min) | **{r.flooder_places:,}** "
        f"| {len(r.fans) - r.not_in_line}/{len(r.fans)} | {shift} "
        f"| **{refused}**{f' ({detail})' if detail else ''} |"
    )


def section(result: AbuseResult) -> list[str]:
    fans, seconds = result.honest_fans, result.seconds
    lines = [
        f"One flooder on {FLOODER_ADDRESS} (a process of its own, {result.concurrency} requests at"
        f" a time) makes as many accounts as it can for {seconds} s and puts each in the default"
        f" line; {fans} honest fans, each on a loopback address of their own (127.0.0.2 and up),"
        f" arrive one every {seconds / fans:.2f} s, sign up, join and poll as told. A server of"
        " its own per scenario (PostgreSQL, Redis, no guests); nobody is admitted and nobody"
        " lapses, so a fan's final position less their arrival rank among honest fans (the"
        " order the line took their joins in) is the flooder's places ahead of them. Where"
        " the line asks for proof, the flooder solves each challenge with a plain Python"
        " loop; an honest fan's page is stood in for by a twin proof the bench signs, sent"
        " after as long as Chromium takes for it (200 real solves would not fit on this"
        " machine's two cores). With the limits on, the sign-up limit alone keeps the"
        ' flooder to a few accounts, under the line\'s cap; "accounts made ahead" lifts'
        " it (the flooder's accounts stand for ones made over weeks), so that the cap is"
        " what holds it.",
        "",
        "| scenario | rate limits | places cap | challenge | flooder accounts | flooder places"
        " | honest fans in line | position - arrival rank (median / worst) | honest refused |",
        "|---|---|---:|---|---:|---:|---:|---:|---|",
        *(_scenario_row(r) for r in result.scenarios),
    ]
    if result.costs:
        lines += [
            "",
            "What a place costs at each level: a script's mean process CPU-seconds per"
            " solution (challenge_cost's loop, sha256 of the salt once, then a copy per"
            " number) and Chromium's median wall time for the fan page's own solver, on"
            " this machine before any server ran; beside them the flooder's CPU per solve"
            " during its run.",
            "",
            "| level | script CPU-s per place | Chromium median | flooder in its run |",
            "|---|---:|---:|---:|",
        ]
        by_level = {r.scenario.challenge: r.flood for r in result.scenarios}
        for cost in result.costs:
            f = by_level.get(cost.level)
            during = (
                f"{f.solve_cpu_seconds / f.solves:.2f} CPU-s, {f.solves} solves"
                if f and f.solves
                else "—"
            )
            lines.append(
                f"| {cost.level} | {_s(cost.python_cpu_seconds)} | {_s(cost.chromium_median)} s"
                f" | {during} |"
            )
    if result.polls is not None:
        polls = result.polls
        window, count = THROTTLE[1], THROTTLE[0]
        busiest = max(run.polls_per_token_window for run in polls.runs)
        lines += [
            "",
            f"The status poll by wrk (`-t1`, {CONNECTIONS} connections, {polls.seconds} s each),"
            " limits off and on alternated on servers of their own, each between two runs of"
            f" the ceiling. wrk polls {polls.runs[0].tokens:,} waiting fans round robin (put in"
            f" line ten to an address), so each token is polled about {busiest:.0f} times in"
            f" {window:.0f} s at most, against the {count} the throttle allows: what is"
            " measured is what the limits cost an honest poll, not how fast a refusal is"
            " (a token polled past the throttle shows in the 429 column).",
            "",
            "| run | limits | req/s | share of ceiling | p99 | 429 | polls per token in a window |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for n, run in enumerate(polls.runs, 1):
            s = run.status
            lines.append(
                f"| {n} | {'on' if run.limits else 'off'} | {s.requests_per_second:,.0f}"
                f" | {run.share:.0%} | {s.p99_ms:.1f} ms | {run.refused}"
                f" | {run.polls_per_token_window:.1f} |"
            )
    lines += ["", "| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {v.target} | {v.measured} | {v.word} |" for v in verdicts(result)]
    if result.problems:
        lines += ["", "Not a measurement as asked:", ""] + [f"- {p}" for p in result.problems]
    return lines


def print_verdicts(result: AbuseResult) -> None:
    for v in verdicts(result):
        print(f"  {v.word.strip('*'):12} {v.target}: {v.measured}")
