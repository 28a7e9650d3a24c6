"""Markdown for the transport benchmark: the machine, one table per scenario with medians,
spreads and ratios to aiosmtpd, and each target stated as met or missed by a factor.
"""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Final

from bench.load import Load

BASELINE: Final = "aiosmtpd"
MB: Final = 1_000_000  # decimal megabytes, for MB/s and RSS alike
IDLE_TARGET: Final = 100 * MB
IDLE_ENGINES: Final = frozenset({"asyncio", "trio", "gevent"})
REFERENCES: Final = frozenset({"floor"})  # yardsticks beside the engines (bench.floor)
# Issue targets beyond the per-scenario one.
THREADS_SMALL_TARGET: Final = 1.0  # the threaded transport, small-message scenarios
FASTEST_MANY_TARGET: Final = 2.5  # the fastest engine, many messages per connection


@dataclass(frozen=True, slots=True)
class Run:
    """One run: wall-clock seconds, and CPU seconds of the server and of the load generator."""

    seconds: float
    server_user: float
    server_system: float
    client_cpu: float

    @property
    def server_cpu(self) -> float:
        """The server's CPU seconds, user and system."""
        return self.server_user + self.server_system


@dataclass(frozen=True, slots=True)
class Result:
    """One engine's runs of one scenario."""

    engine: str
    runs: list[Run]
    messages: int
    size: int  # content octets per message

    @property
    def rates(self) -> list[float]:
        """Messages per second, one per run."""
        return [self.messages / run.seconds for run in self.runs]

    @property
    def server_load(self) -> float:
        """The server's median CPU use while sending, 1.0 = one core busy."""
        return statistics.median(run.server_cpu / run.seconds for run in self.runs)

    @property
    def system_share(self) -> float:
        """The median share of the server's CPU time spent in the kernel."""
        return statistics.median(run.server_system / run.server_cpu for run in self.runs)

    @property
    def cpu_per_message(self) -> float:
        """The server's median CPU seconds per message: steadier than rates on a busy host."""
        return statistics.median(run.server_cpu for run in self.runs) / self.messages

    @property
    def client_load(self) -> float:
        """The load generator's median CPU use, 1.0 = one core busy."""
        return statistics.median(run.client_cpu / run.seconds for run in self.runs)

    @property
    def rate(self) -> float:
        """The median messages per second."""
        return statistics.median(self.rates)

    @property
    def megabytes(self) -> float:
        """The median content MB per second."""
        return self.rate * self.size / MB


def load_average() -> str:
    """The host's 1-minute load average: other work on the machine skews every figure."""
    return f"{os.getloadavg()[0]:.2f}"


def machine(generator: str, runs: int, command: str) -> str:
    """The header: command, machine, Python, aiosmtpd version and load generator."""
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    try:
        aiosmtpd = metadata.version("aiosmtpd")
    except metadata.PackageNotFoundError:
        aiosmtpd = "not installed"
    return "\n".join(
        [
            f"command: `{command}`",
            f"machine: {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.machine()}",
            f"python: {platform.python_implementation()} {platform.python_version()}; "
            f"aiosmtpd {aiosmtpd}",
            f"load generator: {generator}",
            f"figures: median of {runs} runs, (min-max) across runs; MB = 10^6 octets",
            f"load average at start: {load_average()}",
        ]
    )


def _num(rate: float) -> str:
    """Three significant figures at least, thousands separated."""
    if rate >= 100:
        return f"{rate:,.0f}"
    return f"{rate:.1f}" if rate >= 10 else f"{rate:.2f}"


def _duration(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} us" if seconds < 0.01 else f"{seconds * 1e3:,.0f} ms"


def _verdict(ratio: float, target: float) -> str:
    if ratio >= target:
        return f">= {target:g}x: met"
    return f">= {target:g}x: MISSED ({ratio / target:.2f} of it)"


def throughput_table(
    title: str, load: Load, size: int, results: Mapping[str, Result], target: float | None
) -> str:
    """A markdown table for one scenario, with ratios to aiosmtpd when it ran, held to
    `target` unless it is None (a scenario no target speaks of)."""
    mode = "many per connection" if load.per_connection else "one per connection"
    lines = [
        f"\n### {title}\n",
        f"{load.sessions} sessions, {load.messages:,} messages of {size:,} octets, {mode}.\n",
        "| engine | messages/s (min-max) | MB/s | server CPU/msg (sys) | CPU server / load "
        "| x aiosmtpd | target |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    base = results.get(BASELINE)
    for engine, result in sorted(results.items(), key=lambda item: item[0] != BASELINE):
        rates = result.rates
        cells = [
            engine,
            f"{_num(result.rate)} ({_num(min(rates))}-{_num(max(rates))})",
            f"{result.megabytes:,.1f}",
            f"{_duration(result.cpu_per_message)} ({result.system_share:.0%})",
            f"{result.server_load:.0%} / {result.client_load:.0%}",
        ]
        if base is None:
            cells += ["n/a", "n/a (aiosmtpd did not run)"]
        elif engine == BASELINE:
            cells += ["1.00", ""]
        elif engine in REFERENCES:
            cells += [f"{result.rate / base.rate:.2f}", "(a yardstick, not SMTP)"]
        elif target is None:
            cells += [f"{result.rate / base.rate:.2f}", ""]
        else:
            ratio = result.rate / base.rate
            verdicts = [_verdict(ratio, target)]
            if engine == "threads" and target < 4:
                verdicts.insert(0, _verdict(ratio, THREADS_SMALL_TARGET))
            cells += [f"{ratio:.2f}", "; ".join(verdicts)]
        lines.append("| " + " | ".join(cells) + " |")
    ours = {e: r for e, r in results.items() if e != BASELINE and e not in REFERENCES}
    if target is not None and base is not None and ours and load.per_connection and size < MB:
        best = max(ours.values(), key=lambda r: r.rate)
        ratio = best.rate / base.rate
        lines.append(
            f"\nFastest engine: {best.engine}, {ratio:.2f}x aiosmtpd; "
            f"{_verdict(ratio, FASTEST_MANY_TARGET)}."
        )
    return "\n".join(lines)


def idle_table(found: Mapping[str, tuple[int, int]], count: int) -> str:
    """A markdown table of RSS before and with `count` idle connections."""
    lines = [
        f"\n### RSS with {count:,} idle connections\n",
        "Each connection has read its 220 greeting and sits; VmRSS of the server process.\n",
        f"| engine | RSS idle server | RSS with {count:,} | per connection | target |",
        "| --- | --- | --- | --- | --- |",
    ]
    for engine, (before, after) in sorted(found.items(), key=lambda item: item[0] != BASELINE):
        target = ""
        if engine in IDLE_ENGINES:
            if after < IDLE_TARGET:
                target = "< 100 MB: met"
            else:
                target = f"< 100 MB: MISSED ({after / IDLE_TARGET:.2f}x of it)"
        per = (after - before) / count / 1000
        lines.append(
            f"| {engine} | {before / MB:.1f} MB | {after / MB:.1f} MB | {per:.1f} kB | {target} |"
        )
    return "\n".join(lines)
