"""The tls group against broken servers: each TLS fault fails exactly its checks."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.checks.tls_certificate import dns_matches
from conformance.registry import select
from conformance.runner import run_checks
from conformance.target import Target
from conformance.tls_hello import TLS10, client_hello
from conformance.verdict import Verdict
from tests.conformance.broken_server import BrokenServer, Session
from tests.conformance.broken_tls import (
    AgreesToAnything,
    CrashesOnTruncatedHello,
    FallsBackToClearText,
    RemembersEhlo,
    SwallowsGarbage,
    certificate_context,
    parse_hello,
    prefers_tls12,
    weaken,
)

TLS = {c.id for c in select(["tls"])}
# The checks that judge a hand-built ClientHello by the ServerHello it gets.
HELLO = {
    "tls.refuses-ssl3",
    "tls.refuses-tls10",
    "tls.refuses-tls11",
    "tls.no-compression",
    "tls.no-null-cipher",
    "tls.no-rc4-cipher",
    "tls.no-export-cipher",
    "tls.no-static-rsa",
    "tls.no-anonymous-cipher",
}

Setup = Callable[[Path], tuple[ssl.SSLContext, type[Session]]]


def verdicts(tls: ssl.SSLContext | None, session: type[Session]) -> dict[Verdict, set[str]]:
    """Run the tls group against a broken server; the ids grouped by verdict."""
    with BrokenServer(tls=tls, session=session) as server:
        target = Target("127.0.0.1", server.port, timeout=2.0, quiet=0.5)
        results = run_checks(target, select(["tls"]), health=False)
    grouped: dict[Verdict, set[str]] = {v: set() for v in Verdict}
    for result in results:
        grouped[result.verdict].add(result.id)
    return grouped


def _plain(directory: Path) -> tuple[ssl.SSLContext, type[Session]]:
    return certificate_context(directory), Session


def _with(session: type[Session]) -> Setup:
    return lambda directory: (certificate_context(directory), session)


def _context(build: Callable[[Path], ssl.SSLContext]) -> Setup:
    return lambda directory: (build(directory), Session)


def _max_tls12(directory: Path) -> ssl.SSLContext:
    ctx = certificate_context(directory)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def _min_tls13(directory: Path) -> ssl.SSLContext:
    ctx = certificate_context(directory)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def _prefers_tls12(directory: Path) -> tuple[ssl.SSLContext, type[Session]]:
    return certificate_context(directory), prefers_tls12(_max_tls12(directory))


CASES: dict[str, tuple[Setup, set[str]]] = {
    "correct": (_plain, set()),
    "certificate-for-greeting-domain": (
        _context(lambda d: certificate_context(d, ("broken.test",))),
        set(),  # an address target: the greeting's domain is the name to carry
    ),
    "tls-1.0-and-1.1": (
        _context(
            lambda d: weaken(certificate_context(d), "DEFAULT:@SECLEVEL=0", old_versions=True)
        ),
        {"tls.refuses-tls10", "tls.refuses-tls11"},
    ),
    "null-cipher": (
        _context(lambda d: weaken(certificate_context(d), "ALL:!aNULL:eNULL:@SECLEVEL=0")),
        {"tls.no-null-cipher"},
    ),
    "anonymous-cipher": (
        _context(lambda d: weaken(certificate_context(d), "ALL:@SECLEVEL=0")),
        {"tls.no-anonymous-cipher"},
    ),
    "rsa-key-transport": (
        _context(lambda d: weaken(certificate_context(d, use_rsa=True), "DEFAULT")),
        {"tls.no-static-rsa"},
    ),
    "expired-certificate": (
        _context(lambda d: certificate_context(d, days=(-30, -1))),
        {"tls.certificate-current"},
    ),
    "future-certificate": (
        _context(lambda d: certificate_context(d, days=(1, 30))),
        {"tls.certificate-current"},
    ),
    "certificate-for-another-host": (
        _context(lambda d: certificate_context(d, ("other.example",))),
        {"tls.certificate-names-server"},
    ),
    "no-tls-1.3": (_context(_max_tls12), {"tls.tls13"}),
    "prefers-tls-1.2": (_prefers_tls12, {"tls.prefers-tls13"}),
    "forged-server-hello": (_with(AgreesToAnything), HELLO),
    "swallows-garbage-mid-handshake": (
        _with(SwallowsGarbage),
        HELLO | {"tls.garbage-mid-handshake"},
    ),
    "clear-text-fallback": (
        _with(FallsBackToClearText),
        {"tls.cleartext-after-220", "tls.garbage-after-220"},
    ),
    # The crash takes the listener down, so the one check after it cannot connect either.
    "crash-on-truncated-hello": (
        _with(CrashesOnTruncatedHello),
        {"tls.abort-mid-handshake", "tls.forgets-ehlo"},
    ),
    "remembers-ehlo": (_with(RemembersEhlo), {"tls.forgets-ehlo"}),
}


@pytest.mark.parametrize(("setup", "failing"), CASES.values(), ids=CASES.keys())
def test_each_tls_fault_fails_exactly_its_checks(
    setup: Setup, failing: set[str], tmp_path: Path
) -> None:
    tls, session = setup(tmp_path)
    got = verdicts(tls, session)
    assert got[Verdict.FAIL] == failing
    skipped = {"tls.prefers-tls13"} if "tls.tls13" in failing else set()
    assert got[Verdict.SKIP] == skipped


def test_a_server_without_tls_1_2_fails_it_and_the_hello_checks_cannot_judge(
    tmp_path: Path,
) -> None:
    got = verdicts(_min_tls13(tmp_path), Session)
    assert got[Verdict.FAIL] == {"tls.tls12"}
    # It refuses the suite's own TLS 1.2 hello: its refusals of the others say nothing, and
    # there is no handshake half-way to send garbage into.
    assert got[Verdict.SKIP] == HELLO | {"tls.garbage-mid-handshake"}


def test_a_server_without_tls_skips_the_whole_group() -> None:
    got = verdicts(None, Session)
    assert got[Verdict.SKIP] == TLS


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("mx.example.test", "MX.Example.Test.", True),
        ("*.example.test", "mx.example.test", True),
        ("*.example.test", "a.mx.example.test", False),  # one label only
        ("*.example.test", "example.test", False),
        ("*.test", "example.test", False),  # no wildcard over a single remaining label
        ("m*.example.test", "mx.example.test", False),  # only a whole label may be "*"
    ],
)
def test_certificate_names_match_label_by_label(pattern: str, name: str, matches: bool) -> None:
    assert dns_matches(pattern, name) is matches


def test_the_hand_built_hello_offers_what_it_was_given() -> None:
    hello = parse_hello(client_hello(TLS10, (0xC009, 0x002F), server_name="mx.example.test"))
    assert hello is not None
    assert (hello.version, hello.ciphers, hello.compression) == (
        TLS10,
        (0xC009, 0x002F, 0xFF),
        b"\0",
    )
    assert hello.versions == ()


def test_tls_name_is_the_name_the_certificate_must_carry(tmp_path: Path) -> None:
    with BrokenServer(tls=certificate_context(tmp_path, ("mx.example.test",))) as server:
        for name, verdict in (("mx.example.test", Verdict.PASS), ("localhost", Verdict.FAIL)):
            target = Target("127.0.0.1", server.port, timeout=2.0, tls_name=name)
            checks = select(["tls.certificate-names-server"])
            assert [r.verdict for r in run_checks(target, checks, health=False)] == [verdict]
