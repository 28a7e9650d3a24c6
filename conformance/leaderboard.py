"""The leaderboard: each SMTP and LMTP server installed here, graded by the whole suite.

Run by hand from a checkout, as root where Postfix and OpenSMTPD should take part (their
masters start as root); it starts each server of `conformance.contenders`, grades it, stops
it, and writes one table for SMTP servers and one for LMTP servers::

    python -m conformance.leaderboard           # print the table, write it into README.md
    python -m conformance.leaderboard --print   # print it only

A server that is not installed is listed under the tables, not graded.
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from conformance.contenders import Contender, contenders
from conformance.registry import select
from conformance.report import is_health
from conformance.runner import run_checks
from conformance.verdict import CheckResult, Level, Verdict

README = Path(__file__).with_name("README.md")
START, END = "<!-- leaderboard:start -->", "<!-- leaderboard:end -->"


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: the verdict counts of a server per level."""

    name: str
    version: str
    setup: str
    counts: dict[Level, dict[Verdict, int]]

    @property
    def skipped(self) -> int:
        """Checks skipped at any level."""
        return sum(c[Verdict.SKIP] for c in self.counts.values())


def tally(name: str, version: str, setup: str, results: Sequence[CheckResult]) -> Row:
    """A row from one run's results; health checks count as MUST."""
    counts = {level: dict.fromkeys(Verdict, 0) for level in Level}
    for r in results:
        counts[Level.MUST if is_health(r) else r.level][r.verdict] += 1
    return Row(name, version, setup, counts)


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table, the fewest MUST failures first."""
    head = (
        "| server | version | MUST passed | MUST failed | SHOULD passed / failed "
        "| hardening passed / failed | MAY passed / failed | skipped | set up with |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for row in sorted(rows, key=lambda r: (r.counts[Level.MUST][Verdict.FAIL], r.name)):
        c = row.counts
        pair = {level: f"{c[level][Verdict.PASS]} / {c[level][Verdict.FAIL]}" for level in Level}
        lines.append(
            f"| {row.name} | {row.version} | {c[Level.MUST][Verdict.PASS]} "
            f"| {c[Level.MUST][Verdict.FAIL]} | {pair[Level.SHOULD]} "
            f"| {pair[Level.HARDENING]} | {pair[Level.MAY]} | {row.skipped} | {row.setup} |"
        )
    return head + "\n".join(lines) + "\n"


def splice(text: str, block: str) -> str:
    """`text` with everything between the leaderboard markers replaced by `block`.
    Raises ValueError when the markers are missing."""
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError("the leaderboard markers are missing")
    return pattern.sub(lambda _: f"{START}\n{block}{END}", text, count=1)


def grade(contender: Contender) -> Row:
    """Start the contender's server in a scratch directory and run every non-slow check."""
    with tempfile.TemporaryDirectory(prefix="leaderboard-") as scratch:
        root = Path(scratch)
        root.chmod(0o755)  # a server's own user (node, postfix) may need to read its files
        with contender.start(root) as target:
            results = run_checks(target, select(lmtp=contender.lmtp))
    return tally(contender.name, contender.version(), contender.setup, results)


def build(out: Callable[[str], None] = print) -> str:
    """Grade every installed contender; the Markdown block for the README."""
    rows: list[Row] = []
    lmtp_rows: list[Row] = []
    notes: list[str] = []
    for contender in contenders():
        missing = contender.missing()
        if missing is not None:
            notes.append(f"{contender.name}: not graded, {missing}.")
            out(f"skip  {contender.name}: {missing}")
            continue
        try:
            row = grade(contender)
        except (OSError, RuntimeError) as err:
            notes.append(f"{contender.name}: not graded, {err}.")
            out(f"error {contender.name}: {err}")
            continue
        (lmtp_rows if contender.lmtp else rows).append(row)
        out(f"done  {row.name} {row.version}: MUST {row.counts[Level.MUST][Verdict.FAIL]} failed")
    when = datetime.datetime.now(datetime.UTC).date().isoformat()
    lines = [
        f"Graded on {when} by `python -m conformance.leaderboard`: {len(select())} checks each "
        "(the slow group left out) and the health check after each group, counted as a MUST; "
        "fewest MUST failures first.\n",
        "\n",
        table(rows),
        "\n",
        f"LMTP servers, graded with `--lmtp`: the {len(select(lmtp=True))} checks valid over "
        "LMTP, the rfc2033 group among them.\n",
        "\n",
        table(lmtp_rows),
    ]
    if notes:
        lines += ["\n", *(f"- {n}\n" for n in notes)]
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Grade, print the table, and unless --print write it into conformance/README.md."""
    parser = argparse.ArgumentParser(prog="python -m conformance.leaderboard")
    parser.add_argument("--print", action="store_true", help="print only; leave the README")
    args = parser.parse_args(argv)
    block = build(lambda line: print(line, file=sys.stderr))
    print(block)
    if not args.print:
        README.write_text(splice(README.read_text(encoding="utf-8"), block), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
