"""Check selection, the target address syntax, the text and JSON reports and the CLI."""

from __future__ import annotations

import ast
import json
import re
import ssl
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.registry import all_groups, select
from conformance.target import parse_hostport
from conformance.verdict import Level
from tests.conformance.broken_server import BrokenServer, Faults

GROUP_NAMES = [
    "rfc5321",
    "rfc1870",
    "rfc2034",
    "rfc2920",
    "rfc3030",
    "rfc3207",
    "tls",
    "rfc4954",
    "rfc6152",
    "rfc6531",
    "rfc3461",
    "rfc2033",
    "smuggling",
    "robustness",
    "proxy",
    "xclient",
    "slow",
]


def test_groups_come_in_report_order_with_slow_last() -> None:
    assert [g.name for g in all_groups()] == GROUP_NAMES


def test_every_check_has_a_unique_id_in_its_group_and_cites_its_spec() -> None:
    checks = select(slow=True)
    assert len(checks) >= 80
    assert len({c.id for c in checks}) == len(checks)
    for c in checks:
        assert re.fullmatch(r"[a-z0-9]+\.[a-z0-9-]+", c.id), c.id
        assert c.id.startswith(c.group + ".")
        # An RFC section, or the spec of what is no RFC: HAProxy's PROXY protocol, XCLIENT.
        specs = ("HAProxy PROXY protocol", "Postfix XCLIENT_README")
        assert "RFC" in c.rfc or c.rfc.startswith(specs), c.id
        assert c.title


def test_every_check_carries_a_level_and_a_rule_of_its_own_words() -> None:
    checks = select(slow=True)
    for c in checks:
        assert isinstance(c.level, Level), c.id
        assert c.rule, c.id
        assert c.rule != c.title, c.id
    levels = {c.level for c in checks}
    assert levels == set(Level)


@pytest.mark.parametrize(
    ("check_id", "level"),
    [
        # RFC 5321 4.1.1.8: servers SHOULD support HELP; it is not in 4.5.1's minimum list.
        ("rfc5321.help", Level.SHOULD),
        # Grammar the server may enforce; nothing requires refusing it.
        ("rfc5321.quit-argument", Level.MAY),
        ("rfc5321.mail-no-brackets", Level.MAY),
        # RFC 5321 4.1.1.1 puts the duty to greet first on the client.
        ("rfc5321.mail-before-ehlo", Level.MAY),
        # RFC 5321 4.5.3.1 sets minimums to receive, not maximums to refuse.
        ("robustness.overlong-command", Level.HARDENING),
        ("slow.idle-in-session", Level.HARDENING),
        # RFC 5321 2.3.8: nothing but CRLF may be recognised as a line terminator.
        ("smuggling.data-lf-dot-lf", Level.MUST),
        ("rfc3207.plaintext-injection", Level.MUST),
    ],
)
def test_preferences_are_never_weighed_as_musts(check_id: str, level: Level) -> None:
    (check,) = select([check_id])
    assert check.level is level


def test_slow_group_is_opt_in() -> None:
    assert not any(c.group == "slow" for c in select())
    assert any(c.group == "slow" for c in select(slow=True))
    assert [c.group for c in select(["slow"])] == ["slow"] * 3


def test_select_by_group_id_and_prefix_in_suite_order() -> None:
    names = [
        "smuggling.command-bare-cr",
        "rfc1870",
        "smuggling.data-lf-*",
        "rfc1870.mail-size-zero",
    ]
    ids = [c.id for c in select(names)]
    assert ids == [
        "rfc1870.ehlo-parameter",
        "rfc1870.mail-size-under",
        "rfc1870.mail-size-at-limit",
        "rfc1870.mail-size-over",
        "rfc1870.mail-size-invalid",
        "rfc1870.mail-size-empty",
        "rfc1870.mail-size-zero",
        "rfc1870.content-over-limit",
        "smuggling.data-lf-dot-lf",
        "smuggling.data-lf-dot-crlf",
        "smuggling.data-lf-dot-cr",
        "smuggling.command-bare-cr",
    ]


def test_select_unknown_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="no check or group named 'rfc9999'"):
        select(["rfc9999"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:25", ("127.0.0.1", 25)),
        ("[::1]:2525", ("::1", 2525)),
        ("mx:65535", ("mx", 65535)),
        ("mx.example.test", ("mx.example.test", 25)),  # SMTP's port when none is given
        ("[::1]", ("::1", 25)),
    ],
)
def test_parse_hostport(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text) == expected


@pytest.mark.parametrize("text", ["", ":25", "mx:", "mx:0", "mx:65536", "mx:x"])
def test_parse_hostport_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="expected HOST or HOST:PORT"):
        parse_hostport(text)


def test_cli_list_prints_one_line_per_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list", "--select", "rfc6531"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6
    assert lines[0].split()[:4] == ["rfc6531.mail-smtputf8", "MUST", "RFC", "6531"]


def test_cli_unknown_selection_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["127.0.0.1:25", "--select", "nothing"])
    assert exited.value.code == 2
    assert "no check or group named 'nothing'" in capsys.readouterr().err


def test_cli_unreachable_server_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with BrokenServer() as server:
        port = server.port
    assert main([f"127.0.0.1:{port}", "--timeout", "1"]) == 1
    assert capsys.readouterr().err.startswith(f"cannot grade 127.0.0.1:{port}: cannot connect")


def test_cli_clean_run_exits_0_with_group_summary(
    capsys: pytest.CaptureFixture[str], tls_context: ssl.SSLContext
) -> None:
    with BrokenServer(tls=tls_context) as server:
        status = main([f"127.0.0.1:{server.port}", "--select", "rfc3207", "--timeout", "2"])
    out = capsys.readouterr().out
    assert status == 0
    assert out.startswith(f"SMTP conformance of 127.0.0.1:{server.port}: 8 checks\n\nrfc3207\n")
    assert "  PASS  MUST      rfc3207.starttls " in out
    assert "  == rfc3207: 8 passed, 0 failed, 0 skipped; server healthy afterwards" in out
    assert out.endswith(
        "Summary: Meets every MUST it was tested on (6 MUST checks passed).\n"
        "  MUST       6 passed, 0 failed, 0 skipped\n"
        "  SHOULD     0 passed, 0 failed, 0 skipped\n"
        "  hardening  1 passed, 0 failed, 0 skipped\n"
        "  MAY        1 passed, 0 failed, 0 skipped\n"
        "  all        8 passed, 0 failed, 0 skipped\n"
    )


def test_cli_failures_show_the_exchange_and_json_is_written(
    capsys: pytest.CaptureFixture[str], tls_context: ssl.SSLContext, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    faults = Faults(keeps_plaintext_after_starttls=True)
    with BrokenServer(faults, tls=tls_context) as server:
        argv = [f"127.0.0.1:{server.port}", "--select", "rfc3207.plaintext-injection"]
        status = main([*argv, "--json", str(report), "--timeout", "2"])
    out = capsys.readouterr().out
    assert status == 1
    assert "  FAIL  MUST      rfc3207.plaintext-injection " in out
    assert "        rule (MUST, RFC 3207 4.2, CVE-2011-0411): commands sent before" in out
    assert "        why: the injected NOOP was answered under TLS: 250 OK" in out
    assert "        C: STARTTLS\\r\\nNOOP\\r\\n" in out
    assert "Summary: FAILS 1 of 1 MUST checks it was tested on.\n" in out
    assert out.endswith("Failed MUST: rfc3207.plaintext-injection\n")
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["meets_must"] is False
    assert document["summary"] == {"pass": 0, "fail": 1, "skip": 0}
    assert document["levels"]["MUST"] == {"pass": 0, "fail": 1, "skip": 0}
    assert document["levels"]["SHOULD"] == {"pass": 0, "fail": 0, "skip": 0}
    assert document["groups"] == {"rfc3207": {"pass": 0, "fail": 1, "skip": 0}}
    first, health = document["results"]
    assert (first["id"], first["verdict"], first["rfc"], first["level"]) == (
        "rfc3207.plaintext-injection",
        "fail",
        "RFC 3207 4.2, CVE-2011-0411",
        "MUST",
    )
    assert first["rule"].startswith("commands sent before the handshake are discarded")
    assert (health["id"], health["verdict"]) == ("rfc3207.health", "pass")


def test_cli_writes_junit_xml_that_ci_systems_read(
    capsys: pytest.CaptureFixture[str], tls_context: ssl.SSLContext, tmp_path: Path
) -> None:
    xml, document = tmp_path / "report.xml", tmp_path / "report.json"
    faults = Faults(keeps_plaintext_after_starttls=True)
    with BrokenServer(faults, tls=tls_context) as server:
        argv = [f"127.0.0.1:{server.port}", "--select", "rfc3207", "--timeout", "2"]
        assert main([*argv, "--junit", str(xml), "--json", str(document)]) == 1
    capsys.readouterr()
    results = json.loads(document.read_text(encoding="utf-8"))["results"]
    failed = {r["id"] for r in results if r["verdict"] == "fail"}
    root = ET.parse(xml).getroot()  # noqa: S314 (our own file)
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures")) == (str(len(results)), str(len(failed)))
    (suite,) = root
    assert (suite.get("name"), suite.get("tests")) == ("rfc3207", str(len(results)))
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {r["id"] for r in results}  # the health check too: CI shows it
    assert {n for n, c in cases.items() if c.find("failure") is not None} == failed
    failure = cases["rfc3207.plaintext-injection"].find("failure")
    assert failure is not None
    assert failure.get("message") == "the injected NOOP was answered under TLS: 250 OK"
    assert "C: STARTTLS\\r\\nNOOP\\r\\n" in (failure.text or "")
    properties = {p.get("name"): p.get("value") for p in cases["rfc3207.starttls"].iter("property")}
    starttls = next(r for r in results if r["id"] == "rfc3207.starttls")
    assert properties == {k: starttls[k] for k in ("level", "rfc", "rule", "title")}
    assert properties["level"] == "MUST"
    twice = {
        p.get("name"): p.get("value") for p in cases["rfc3207.starttls-twice"].iter("property")
    }
    assert twice["level"] == "hardening"
    assert failure.get("type") == "MUST nonconformance"


# With 250 to everything the server fails a SHOULD (HELP wants 211/214), a MAY (MAIL before
# EHLO is taken) and a hardening check (a 10,000-octet line is run).
FAIL_ON_CASES = [
    ("rfc5321.help", {"must": 0, "should": 1, "hardening": 1, "any": 1}),
    ("robustness.overlong-command", {"must": 0, "should": 0, "hardening": 1, "any": 1}),
    ("rfc5321.mail-before-ehlo", {"must": 0, "should": 0, "hardening": 0, "any": 1}),
    ("rfc5321.rcpt-before-mail", {"must": 1, "should": 1, "hardening": 1, "any": 1}),
]


@pytest.mark.parametrize(("check_id", "statuses"), FAIL_ON_CASES)
def test_fail_on_picks_the_levels_that_make_the_exit_status_1(
    check_id: str, statuses: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    got: dict[str, int] = {}
    with BrokenServer(Faults(yes_to_everything=True)) as server:
        for fail_on in statuses:
            argv = [f"127.0.0.1:{server.port}", "--select", check_id, "--timeout", "2"]
            got[fail_on] = main([*argv, "--fail-on", fail_on])
    out = capsys.readouterr().out
    assert got == statuses
    assert f"  FAIL  {select([check_id])[0].level.value:<9} {check_id} " in out


def test_fail_on_defaults_to_must(capsys: pytest.CaptureFixture[str]) -> None:
    with BrokenServer(Faults(yes_to_everything=True)) as server:
        argv = [f"127.0.0.1:{server.port}", "--select", "rfc5321.help", "--timeout", "2"]
        assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Summary: Meets every MUST it was tested on (0 MUST checks passed).\n" in out
    assert out.endswith("Failed SHOULD: rfc5321.help\n")


def test_cli_reports_a_server_left_unhealthy(
    capsys: pytest.CaptureFixture[str], tls_context: ssl.SSLContext
) -> None:
    with BrokenServer(Faults(dies_on_nul=True), tls=tls_context) as server:
        argv = [f"127.0.0.1:{server.port}", "--select", "robustness.nul-in-verb"]
        assert main([*argv, "--timeout", "2"]) == 1
    out = capsys.readouterr().out
    assert (
        "  == robustness: 0 passed, 1 failed, 0 skipped; "
        "HEALTH FAILED: the server no longer completes a transaction\n"
    ) in out
    assert "Server unhealthy after: robustness\n" in out


def test_the_suite_never_imports_the_project_it_grades() -> None:
    root = Path(__file__).parents[2] / "conformance"
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top not in ("smtp_proto", "transports"), f"{path}: imports {name}"
                if path.name != "pytest_plugin.py":
                    assert top != "pytest", f"{path}: imports {name}"
