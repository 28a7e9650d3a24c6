"""Reports: a readable text report written as results arrive, and a JSON document."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from conformance.verdict import CheckResult, Verdict

_ID_WIDTH = 40
_RFC_WIDTH = 26


def is_health(result: CheckResult) -> bool:
    """True for the health check run after a group."""
    return result.id == f"{result.group}.health"


def result_line(result: CheckResult) -> str:
    """One line: verdict, id, RFC section, title (and the reason of a skip)."""
    line = (
        f"  {result.verdict.name:<4}  {result.id:<{_ID_WIDTH}} {result.rfc:<{_RFC_WIDTH}} "
        f"{result.title}"
    )
    if result.verdict is Verdict.SKIP:
        line += f" [skipped: {result.reason}]"
    return line


def failure_details(result: CheckResult) -> list[str]:
    """The reason and the exchange of a failed check, indented under its line."""
    return [f"        why: {result.reason}", *(f"        {t}" for t in result.transcript)]


def counts(results: Sequence[CheckResult]) -> Counter[Verdict]:
    """How many results of each verdict, health checks left out."""
    return Counter(r.verdict for r in results if not is_health(r))


def group_summary(group: str, results: Sequence[CheckResult]) -> str:
    """One line per group: its counts and whether the server stayed healthy after it."""
    mine = [r for r in results if r.group == group]
    n = counts(mine)
    health = [r for r in mine if is_health(r)]
    line = (
        f"  == {group}: {n[Verdict.PASS]} passed, {n[Verdict.FAIL]} failed, "
        f"{n[Verdict.SKIP]} skipped"
    )
    if health and health[0].verdict is Verdict.FAIL:
        return line + "; HEALTH FAILED: the server no longer completes a transaction"
    if health:
        return line + "; server healthy afterwards"
    return line


class TextReport:
    """Writes each result as it comes, failures with details, a summary per group."""

    def __init__(self, out: TextIO, title: str) -> None:
        self.out = out
        self.results: list[CheckResult] = []
        self._group: str | None = None
        print(title, file=out)

    def add(self, result: CheckResult) -> None:
        """Write one result (and close the previous group when a new one starts)."""
        if result.group != self._group:
            self._end_group()
            self._group = result.group
            print(f"\n{result.group}", file=self.out)
        self.results.append(result)
        print(result_line(result), file=self.out)
        if result.verdict is Verdict.FAIL:
            print("\n".join(failure_details(result)), file=self.out)
        self.out.flush()

    def _end_group(self) -> None:
        if self._group is not None:
            print(group_summary(self._group, self.results), file=self.out)

    def finish(self) -> None:
        """Close the last group and write the overall summary."""
        self._end_group()
        n = counts(self.results)
        unhealthy = [r.group for r in self.results if is_health(r) and r.verdict is Verdict.FAIL]
        print(
            f"\nSummary: {n[Verdict.PASS]} passed, {n[Verdict.FAIL]} failed, "
            f"{n[Verdict.SKIP]} skipped",
            file=self.out,
        )
        if unhealthy:
            print(f"Server unhealthy after: {', '.join(unhealthy)}", file=self.out)
        failed = [r.id for r in self.results if r.verdict is Verdict.FAIL]
        if failed:
            print("Failed: " + " ".join(failed), file=self.out)


def to_json(target: str, results: Sequence[CheckResult]) -> dict[str, object]:
    """A JSON-ready document: target, totals, per-group totals and every result."""
    groups: dict[str, dict[str, int]] = {}
    for r in results:
        if not is_health(r):
            entry = groups.setdefault(r.group, {v.value: 0 for v in Verdict})
            entry[r.verdict.value] += 1
    n = counts(results)
    return {
        "target": target,
        "summary": {v.value: n[v] for v in Verdict},
        "groups": groups,
        "results": [r.to_json() for r in results],
    }
