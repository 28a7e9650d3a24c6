"""The BINARYMIME checks against the broken server with BDAT: correct, it passes them all;
each bug fails exactly the checks written for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.registry import select
from conformance.runner import run_checks
from conformance.target import Target
from conformance.verdict import Verdict
from tests.conformance.broken_auth_bdat import AuthBdatFaults, AuthBdatServer

BINARY = [c.id for c in select(["rfc3030"]) if c.id.startswith("rfc3030.binarymime-")]
NOT_ADVERTISED = "rfc3030.binarymime-not-advertised"
# The checks that read the stored message back.
STORED = {"all-octets", "bare-line-ends", "long-line", "dot-lines", "split-crlf", "zero-last"}


def verdicts(flaws: AuthBdatFaults, names: list[str], store: Path) -> dict[Verdict, set[str]]:
    """Run the named checks against the server with `flaws`, storing into `store`."""
    store.mkdir()
    with AuthBdatServer(flaws, store=store) as server:
        target = Target("127.0.0.1", server.port, maildir=str(store), timeout=2.0, quiet=0.5)
        results = run_checks(target, select(names), health=False)
    grouped: dict[Verdict, set[str]] = {v: set() for v in Verdict}
    for result in results:
        grouped[result.verdict].add(result.id)
    return grouped


def test_a_correct_server_passes_every_binarymime_check(tmp_path: Path) -> None:
    assert len(BINARY) >= 8
    got = verdicts(AuthBdatFaults(), BINARY, tmp_path / "store")
    assert got[Verdict.PASS] == set(BINARY) - {NOT_ADVERTISED}
    assert got[Verdict.SKIP] == {NOT_ADVERTISED}  # it grades servers without BINARYMIME


def test_a_correct_server_without_binarymime_refuses_the_body_and_skips_the_rest(
    tmp_path: Path,
) -> None:
    got = verdicts(AuthBdatFaults(binarymime_off=True), BINARY, tmp_path / "store")
    assert got[Verdict.PASS] == {NOT_ADVERTISED}
    assert got[Verdict.FAIL] == set()


def test_the_whole_chunking_group_passes_with_binarymime_on(tmp_path: Path) -> None:
    got = verdicts(AuthBdatFaults(), ["rfc3030"], tmp_path / "store")
    assert got[Verdict.FAIL] == set()


@pytest.mark.parametrize(
    ("flaw", "failed"),
    [
        ("binarymime_alone", {"with-chunking"}),
        ("hides_binarymime", {"not-advertised"}),
        (
            "refuses_binarymime_body",
            {"mail", "mail-lower-case", "data-refused"} | STORED,
        ),
        ("case_sensitive_body", {"mail-lower-case"}),
        ("data_after_binarymime", {"data-refused"}),
        ("normalises_line_ends", {"all-octets", "bare-line-ends", "split-crlf"}),
        ("unstuffs_dots", {"dot-lines"}),
        ("drops_nul", {"all-octets"}),
        ("folds_long_lines", {"long-line"}),
        ("drops_cr_at_chunk_end", {"split-crlf"}),
        ("empty_last_adds_crlf", {"zero-last"}),
    ],
)
def test_each_binarymime_bug_fails_exactly_its_checks(
    flaw: str, failed: set[str], tmp_path: Path
) -> None:
    got = verdicts(AuthBdatFaults(**{flaw: True}), BINARY, tmp_path / "store")
    assert got[Verdict.FAIL] == {f"rfc3030.binarymime-{name}" for name in failed}
