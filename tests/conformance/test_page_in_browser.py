"""The HTML page as headless Chromium renders it: the verdict colored, the rows in the DOM.
Skipped only where Chromium is not installed (Debian package chromium)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from conformance.page import to_html
from conformance.verdict import CheckResult, Level, Verdict

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
RED, GREEN = (0xFB, 0xDC, 0xDC), (0xDF, 0xF5, 0xDF)  # .fails and .meets in the page's style


def chromium(*args: str) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(  # noqa: S603 (fixed argv)
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def png_pixels(data: bytes) -> set[tuple[int, int, int]]:
    """The distinct RGB colors of an 8-bit RGB or RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, channels = 8, b"", 0, 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, _, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8
            channels = {2: 3, 6: 4}[color]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * channels
    previous = bytearray(stride)
    colors: set[tuple[int, int, int]] = set()
    for row in range(len(raw) // (stride + 1)):
        start = row * (stride + 1)
        method, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            guess = (0, left, up, (left + up) // 2, _paeth(left, up, corner))[method]
            line[i] = (line[i] + guess) & 0xFF
        colors.update((line[i], line[i + 1], line[i + 2]) for i in range(0, stride, channels))
        previous = line
    return colors


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def result(check_id: str, verdict: Verdict, level: Level) -> CheckResult:
    exchange = ("C: HELP\\r\\n", "S: 500 <not> implemented\\r\\n")
    return CheckResult(
        check_id, "rfc5321", "RFC 5321", "a title", verdict, "why", exchange, level, "a rule"
    )


@pytest.mark.parametrize(
    ("level", "shown", "absent"), [(Level.MUST, RED, GREEN), (Level.SHOULD, GREEN, RED)]
)
def test_the_verdict_is_colored_by_whether_every_must_is_met(
    level: Level, shown: tuple[int, int, int], absent: tuple[int, int, int], tmp_path: Path
) -> None:
    page, shot = tmp_path / "report.html", tmp_path / "shot.png"
    page.write_text(to_html("mx:25", [result("rfc5321.help", Verdict.FAIL, level)]))
    chromium(f"--screenshot={shot}", "--window-size=800,300", page.as_uri())
    colors = png_pixels(shot.read_bytes())
    assert shown in colors
    assert absent not in colors


def test_the_browser_builds_one_row_per_check_with_the_exchange_folded(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    results = [
        result("rfc5321.help", Verdict.FAIL, Level.SHOULD),
        result("rfc5321.noop", Verdict.PASS, Level.MUST),
    ]
    page.write_text(to_html("mx:25", results))
    dom = chromium("--dump-dom", page.as_uri())
    assert '<p id="verdict" class="verdict meets">Meets every MUST' in dom
    assert '<tr id="rfc5321.help" class="fail SHOULD">' in dom
    assert '<tr id="rfc5321.noop" class="pass MUST">' in dom
    assert "<details><summary>why: why</summary>" in dom
    assert "S: 500 &lt;not&gt; implemented" in dom  # server text stays text
