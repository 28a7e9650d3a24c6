"""The HTML page (--html) and the leaderboard's table: what a reader sees in them."""

from __future__ import annotations

import ssl
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.leaderboard import END, START, splice, table, tally
from conformance.page import to_html
from conformance.verdict import CheckResult, Level, Verdict
from tests.conformance.broken_server import BrokenServer, Faults


class Elements(HTMLParser):
    """Collects each element's tag and attributes, and the text inside each id'd element."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, str] = {}
        self._open: list[tuple[str, str]] = []  # (tag, id) of the id'd elements open

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        element_id = found.get("id")
        if element_id is not None and tag in ("p", "tr"):
            self._open.append((tag, element_id))
            self.text[element_id] = ""

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            self.text[element_id] += data


def result(check_id: str, verdict: Verdict, level: Level, **more: str) -> CheckResult:
    group = check_id.split(".")[0]
    return CheckResult(
        check_id,
        group,
        more.get("rfc", "RFC 5321 4.1.1.8"),
        more.get("title", "a title"),
        verdict,
        more.get("reason", ""),
        tuple(more.get("transcript", "").splitlines()),
        level,
        "a rule",
    )


def test_cli_html_shows_the_verdict_levels_and_each_failure_folded(
    tls_context: ssl.SSLContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "report.html"
    with BrokenServer(Faults(keeps_plaintext_after_starttls=True), tls=tls_context) as server:
        argv = [f"127.0.0.1:{server.port}", "--select", "rfc3207", "--timeout", "2"]
        assert main([*argv, "--html", str(page)]) == 1
    capsys.readouterr()
    parsed = Elements()
    parsed.feed(page.read_text(encoding="utf-8"))
    assert parsed.text["verdict"] == "FAILS 2 of 6 MUST checks it was tested on."
    rows = {a["id"]: a["class"] for t, a in parsed.tags if t == "tr" and a.get("id")}
    assert rows["rfc3207.plaintext-injection"] == "fail MUST"
    assert rows["rfc3207.starttls"] == "pass MUST"
    assert rows["rfc3207.starttls-twice"] == "pass hardening"
    injection = parsed.text["rfc3207.plaintext-injection"]
    assert "why: the injected NOOP was answered under TLS: 250 OK" in injection
    assert "C: STARTTLS\\r\\nNOOP\\r\\n" in injection
    assert sum(t == "details" for t, _ in parsed.tags) == 2  # one fold per failure
    assert sum(t == "script" for t, _ in parsed.tags) == 0  # self-contained, nothing runs


def test_server_text_is_escaped_in_the_page() -> None:
    hostile = result(
        "rfc5321.help",
        Verdict.FAIL,
        Level.SHOULD,
        reason="got <script>alert(1)</script>",
        transcript="S: 214 <b>help</b>",
    )
    page = to_html("mx.example.test:25", [hostile])
    assert "<script>" not in page
    assert "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'class="verdict meets"' in page  # a SHOULD failure leaves every MUST met


def test_tally_and_table_count_each_level() -> None:
    results = [
        result("rfc5321.noop", Verdict.PASS, Level.MUST),
        result("rfc5321.vrfy", Verdict.FAIL, Level.MUST),
        result("rfc5321.help", Verdict.FAIL, Level.SHOULD),
        result("rfc5321.quit-argument", Verdict.PASS, Level.MAY),
        result("rfc5321.health", Verdict.PASS, Level.MAY),  # a health check counts as MUST
        result("rfc1870.mail-size-over", Verdict.SKIP, Level.MUST),
        result("slow.idle-in-session", Verdict.SKIP, Level.HARDENING),
    ]
    good = tally("good", "1.0", "plain", results[:1])
    row = tally("mixed", "2.0", "STARTTLS", results)
    assert row.counts[Level.MUST] == {Verdict.PASS: 2, Verdict.FAIL: 1, Verdict.SKIP: 1}
    assert row.skipped == 2
    lines = table([row, good]).splitlines()
    assert lines[0].startswith("| server | version | MUST passed | MUST failed |")
    # Fewest MUST failures first.
    assert lines[2] == "| good | 1.0 | 1 | 0 | 0 / 0 | 0 / 0 | 0 / 0 | 0 | plain |"
    assert lines[3] == "| mixed | 2.0 | 2 | 1 | 0 / 1 | 0 / 0 | 1 / 0 | 2 | STARTTLS |"


def test_splice_replaces_only_between_the_markers() -> None:
    text = f"intro\n{START}\nold table\n{END}\nafter\n"
    assert splice(text, "new\n") == f"intro\n{START}\nnew\n{END}\nafter\n"
    with pytest.raises(ValueError, match="markers are missing"):
        splice("no markers here", "new\n")


def test_the_readme_holds_the_leaderboard_markers() -> None:
    readme = (Path(__file__).parents[2] / "conformance" / "README.md").read_text()
    assert readme.index(START) < readme.index(END)
