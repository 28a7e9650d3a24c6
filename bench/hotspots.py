"""Where a server process spends its time: py-spy samples (when py-spy is on PATH or next to
the interpreter) summarised per layer and function, and `perf stat` counts of system calls,
futex calls and context switches (when perf is installed and allowed).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Final

_FRAME: Final = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    """The py-spy executable, or None when it is not installed."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Recorder:
    """Samples one process with `py-spy record` until `stop()`; raw (collapsed) output."""

    def __init__(self, exe: str, pid: int, out: Path, rate: int = 1000) -> None:
        self.out = out
        argv = [exe, "record", "--pid", str(pid), "--format", "raw", "--output", str(out)]
        # --gil: only the thread holding the GIL, i.e. where the interpreter really runs.
        argv += ["--rate", str(rate), "--nonblocking", "--gil"]
        self._proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self) -> None:
        """End the recording (py-spy writes its file on SIGINT)."""
        self._proc.send_signal(2)
        _, err = self._proc.communicate(timeout=60)
        if not self.out.exists():
            raise RuntimeError(f"py-spy wrote nothing: {err.decode(errors='replace').strip()}")


# Where a frame's file lives says which layer it belongs to; the first match wins.
_LAYERS: Final = (
    (
        "session layer",
        (
            "smtp_proto/session.py",
            "smtp_proto/handler.py",
            "smtp_proto/context.py",
            "smtp_proto/logs.py",
            "smtp_proto/handlers/",
        ),
    ),
    ("protocol core", ("smtp_proto/",)),
    ("transport", ("transports/",)),
    ("bench", ("bench/",)),
    ("anyio", ("anyio/",)),
    ("trio", ("trio/", "outcome/", "sniffio/")),
    ("gevent", ("gevent/", "greenlet/")),
    ("asyncio", ("asyncio/",)),
    ("aiosmtpd", ("aiosmtpd/",)),
)


def layer(path: str) -> str:
    """The layer a source file belongs to; "stdlib and other" when none matches."""
    for name, marks in _LAYERS:
        if any(mark in path for mark in marks):
            return name
    return "stdlib and other"


def perf() -> str | None:
    """The perf executable, or None when it is not installed."""
    return shutil.which("perf")


class Counters:
    """Counts kernel events of one process with `perf stat` until `stop()`."""

    EVENTS: Final = ("raw_syscalls:sys_enter", "syscalls:sys_enter_futex", "context-switches")
    NAMES: Final = ("system calls", "futex calls", "context switches")

    def __init__(self, exe: str, pid: int) -> None:
        argv = [exe, "stat", "-x", ",", "-e", ",".join(self.EVENTS), "-p", str(pid)]
        self._proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )

    def stop(self) -> dict[str, float]:
        """End counting; the count per event name (events perf could not count are left out)."""
        self._proc.send_signal(2)
        _, err = self._proc.communicate(timeout=60)
        counts: dict[str, float] = {}
        for line in err.splitlines():
            value, _, rest = line.partition(",")
            event = rest.split(",")[1] if rest.count(",") >= 1 else ""
            if event in self.EVENTS and value.replace(".", "", 1).isdigit():
                counts[self.NAMES[self.EVENTS.index(event)]] = float(value)
        return counts


@dataclass(frozen=True, slots=True)
class Summary:
    """Sample counts: own (the frame on top) and inclusive, keyed by `function (file)`;
    own time per layer too."""

    total: int
    own: Counter[str]
    inclusive: Counter[str]
    layers: Counter[str]

    def report(self, top: int = 15) -> str:
        """Ranked lists as text, percentages of all samples."""
        lines = [f"{self.total} samples; own time per layer:"]
        lines += [_row(name, n, self.total) for name, n in self.layers.most_common()]
        lines.append("own time (function at the top of the stack):")
        lines += [_row(name, n, self.total) for name, n in self.own.most_common(top)]
        lines.append("inclusive time of our functions (anywhere on the stack):")
        lines += [_row(name, n, self.total) for name, n in self.inclusive.most_common(top)]
        return "\n".join(lines)


def _row(name: str, count: int, total: int) -> str:
    return f"  {100 * count / max(total, 1):5.1f}%  {name}"


def summarise(path: Path) -> Summary:
    """Read py-spy's raw format: `frame;frame;...;frame COUNT` per line, outermost first."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_parse(frame) for frame in stack.split(";")]
        names = [f"{func} ({Path(path).name})" for func, path in frames]
        own[names[-1]] += n
        layers[layer(frames[-1][1])] += n
        for name in {n for n, (_, path) in zip(names, frames, strict=True) if _ours(path)}:
            inclusive[name] += n
    return Summary(total=total, own=own, inclusive=inclusive, layers=layers)


def _ours(path: str) -> bool:
    return layer(path) in ("protocol core", "session layer", "transport")


def _parse(frame: str) -> tuple[str, str]:
    """`name (path/to/file.py:12)` -> (name, path/to/file.py); lines merge per function."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), ""
    return match["func"], match["file"]
