"""Where a server process spends its time: py-spy samples (when py-spy is on PATH or next to
the interpreter) summarised per function, by own time and by time including callees.
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

    def __init__(self, exe: str, pid: int, out: Path, rate: int = 250) -> None:
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


@dataclass(frozen=True, slots=True)
class Summary:
    """Sample counts: own (the frame on top) and inclusive, keyed by `function (file)`."""

    total: int
    own: Counter[str]
    inclusive: Counter[str]

    def report(self, top: int = 15) -> str:
        """Two ranked lists as text, percentages of all samples."""
        lines = [f"{self.total} samples; own time (function at the top of the stack):"]
        lines += [_row(name, n, self.total) for name, n in self.own.most_common(top)]
        lines.append("inclusive time (function anywhere on the stack):")
        lines += [_row(name, n, self.total) for name, n in self.inclusive.most_common(top)]
        return "\n".join(lines)


def _row(name: str, count: int, total: int) -> str:
    return f"  {100 * count / max(total, 1):5.1f}%  {name}"


def summarise(path: Path) -> Summary:
    """Read py-spy's raw format: `frame;frame;...;frame COUNT` per line, outermost first."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short(frame) for frame in stack.split(";")]
        own[frames[-1]] += n
        for name in set(frames):
            inclusive[name] += n
    return Summary(total=total, own=own, inclusive=inclusive)


def _short(frame: str) -> str:
    """`name (path/to/file.py:12)` -> `name (file.py)`; lines are merged per function."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{match['func']} ({Path(match['file']).name})"
