"""The report: the measured sections of docs/benchmarks.md, and the drop's plot.

The report is written by hand (what each change bought, and why the code is as it
is); a run rewrites only the sections between its markers, each stamped with the
command and the date, so a run of one scenario leaves the others' figures alone::

    <!-- measured: writes -->
    ...
    <!-- /measured: writes -->

A section the file does not have yet is added at its end."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from boxoffice_bench.drop import DropResult

MACHINE = "machine"


def _block(name: str, lines: list[str]) -> str:
    return "\n".join([f"<!-- measured: {name} -->", *lines, f"<!-- /measured: {name} -->"])


def rewrite_section(text: str, name: str, lines: list[str]) -> str:
    pattern = re.compile(
        rf"^<!-- measured: {re.escape(name)} -->$.*?^<!-- /measured: {re.escape(name)} -->$",
        re.DOTALL | re.MULTILINE,
    )
    block = _block(name, lines)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    return text.rstrip("\n") + "\n\n" + block + "\n"


def write_sections(path: Path, sections: dict[str, list[str]], *, command: str) -> None:
    """Rewrite ``sections`` (name: lines) of the report at ``path``, and the machine."""
    stamp = (
        f"Measured by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"(load average over the last 15 minutes: {os.getloadavg()[2]:.1f})."
    )
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    text = rewrite_section(text, MACHINE, [f"**Machine:** {machine()}."])
    for name, lines in sections.items():
        text = rewrite_section(text, name, [stamp, "", *lines])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30

    def version(*cmd: str) -> str:
        try:
            return (
                subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
            )
        except (OSError, IndexError):
            return "unknown"

    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; {version('psql', '--version')}; "
        f"{version('redis-server', '--version')}"
    )


def plot_drop(result: DropResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timeline = result.stats.timeline
    t = [m.seconds for m in timeline]
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    in_line = "in line" if result.opening is None else "in line (pre-queue, waiting, sold out)"
    ax.plot(t, [m.waiting for m in timeline], label=in_line)
    ax.plot(t, [m.admitted for m in timeline], label="admitted")
    ax.plot(t, [m.sold for m in timeline], label="seats sold")
    ax.plot(t, [m.learned for m in timeline], label="learned nothing was left")
    opening = result.opening
    if opening is not None:
        ax.axvline(opening.opens_at - opening.started_at, color="grey", ls="--", lw=1)
        ax.annotate("opening", (opening.opens_at - opening.started_at, 0), rotation=90)
        if opening.line_closed_at is not None:
            closed = opening.line_closed_at - opening.started_at
            ax.axvline(closed, color="grey", ls=":", lw=1)
            ax.annotate("line closed", (closed, 0), rotation=90)
    ax.set_xlabel("seconds since the first fan arrived")
    ax.set_ylabel("fans")
    ax.set_title(f"Ticket drop: {result.fans} fans at {result.rate:.0f}/s for {result.seats} seats")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
