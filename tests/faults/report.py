"""The fault suite's measurements as the markdown that docs/operations.md carries.

    python -m tests.faults.report FILE.jsonl            # print the measured section
    python -m tests.faults.report --run --write docs/operations.md
        # run the suite, then replace the measured section of that file in place

``FILE.jsonl`` is what ``BOXOFFICE_FAULT_REPORT=FILE.jsonl pytest tests/faults`` wrote.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- fault-report:begin -->", "<!-- fault-report:end -->"


def _counts(counts: dict[str, int] | None, limit: int = 5) -> str:
    if not counts:
        return "none"
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
    more = "" if len(counts) <= limit else ", ..."
    return ", ".join(f"{label} x{n}" for label, n in top) + more


def _seconds(value: float | None, missing: str) -> str:
    return missing if value is None else f"{value:.1f} s"


def render(records: list[dict[str, Any]]) -> str:
    commits = sorted({str(r.get("commit", "unknown")) for r in records})
    lines = [
        f"Measured on commit {', '.join(f'`{c}`' for c in commits)}, "
        f"{datetime.now(UTC):%Y-%m-%d}, by `python -m tests.faults.report --run "
        "--write docs/operations.md` (two instances, PostgreSQL and Redis on one 2-core "
        "machine).",
        "",
        "| Fault | Result | Fans answered during the fault | Slowest answer | Recovery "
        "| /readyz during the fault | Invariant audit |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in records:
        readyz = "; ".join(
            f"{name}: {_counts(seen, 3)}" for name, seen in (r.get("readyz_during") or {}).items()
        )
        audit = r.get("audit")
        lines.append(
            "| "
            + " | ".join(
                [
                    str(r.get("fault", r["scenario"])),
                    "**passed**" if r.get("outcome") == "passed" else "**failed**",
                    _counts(r.get("during")),
                    _seconds(r.get("slowest_seconds"), "-"),
                    _seconds(r.get("recovery_seconds"), "none within 30 s"),
                    readyz or "-",
                    "clean" if audit == [] else f"{len(audit or [])} problems",
                ]
            )
            + " |"
        )
    lines += ["", "### Each run in detail", ""]
    for r in records:
        lines += [
            f"#### {r.get('fault', r['scenario'])}",
            "",
            f"`{r['scenario']}`: {r.get('outcome')}.",
        ]
        lines.append(
            f"Fans got {r.get('answers', 0)} answers, {r.get('broken', 0)} of them a 500, "
            f"a reset or a hang; {r.get('payments_acknowledged', 0)} payments answered 201, "
            f"all checked against the database. Recovery by instance: "
            f"{r.get('recovery_by_instance')}; slowest answer: {r.get('slowest')}."
        )
        if "writes_lost" in r:
            lost = r["writes_lost"]
            lines.append(
                f"Writes answered 2xx: {_counts(r.get('writes_acknowledged'))}; missing from "
                f"the promoted database: {_counts(lost) if lost else 'none'}; the first "
                f"write answered {_seconds(r.get('writes_back_seconds'), 'never')} after "
                "the primary died ("
                f"{_seconds(r.get('writes_back_after_promotion_seconds'), 'never')} after "
                "the promotion began)."
            )
        if r.get("odd_answers"):
            lines.append(f"Answers that followed from lost writes: {_counts(r['odd_answers'])}.")
        if r.get("failed_over"):
            lines.append(
                f"Requests refused by the killed instance and retried: {r['failed_over']}."
            )
        metrics = r.get("metrics") or {}
        lines.append(
            "Requests by status in /metrics afterwards: "
            + "; ".join(f"{n}: {_counts(m, 8)}" for n, m in metrics.items())
            + "."
        )
        for problem in r.get("problems") or []:
            lines.append(f"- {problem[:400]}")
        logs = [(n, line) for n, got in (r.get("log_lines") or {}).items() for line in got[:4]]
        if logs:
            lines += ["", "Instance log lines (digits as N, count first):", "", "```"]
            lines += [f"{n}: {line[:200]}" for n, line in logs]
            lines.append("```")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def replace_section(doc: Path, section: str) -> None:
    text = doc.read_text()
    head, found, rest = text.partition(BEGIN)
    if not found or END not in rest:
        raise SystemExit(f"{doc} has no {BEGIN} ... {END} section to replace")
    doc.write_text(f"{head}{BEGIN}\n{section}{END}{rest.partition(END)[2]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", type=Path, help="a JSON lines file of the suite")
    parser.add_argument("--run", action="store_true", help="run pytest tests/faults first")
    parser.add_argument("--write", type=Path, help="replace the measured section of this file")
    args = parser.parse_args(argv)
    if args.run:
        out = Path(tempfile.mkdtemp()) / "faults.jsonl"
        env = {**os.environ, "BOXOFFICE_FAULT_REPORT": str(out)}
        repo = Path(__file__).resolve().parents[2]
        subprocess.run([sys.executable, "-m", "pytest", "tests/faults", "-q"], env=env, cwd=repo)
        args.report = out
    if args.report is None or not args.report.exists():
        parser.error("give the report file, or --run")
    section = render(read(args.report))
    if args.write:
        replace_section(args.write, section)
    else:
        sys.stdout.write(section)


if __name__ == "__main__":
    main()
