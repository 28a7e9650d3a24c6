"""The conformance suite through a PROXY header (`--proxy v1|v2`), against a server in
PROXY mode: every check passes as it does without one, and without `--proxy` the suite
says why it cannot grade such a server."""

from __future__ import annotations

import pytest

from conformance.cli import main
from smtp_proto.config import ServerConfig
from smtp_proto.handler import Handler
from smtp_proto.proxy import ProxyVersion
from transports.threaded import Server

SELECT = [
    "--select",
    "rfc5321",
    "--select",
    "rfc2920",
    "--select",
    "smuggling",
    "--select",
    "proxy",
]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_the_suite_grades_a_server_behind_a_proxy(
    version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ServerConfig(proxy_protocol=ProxyVersion(version))
    with Server(Handler(), ports="0", config=config) as server:
        host, port = server.addresses[0]
        argv = [f"{host}:{port}", "--proxy", version, *SELECT, "--timeout", "5"]
        status = main([*argv, "--quiet-timeout", "0.5"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "  == proxy: 3 passed, 0 failed, 0 skipped; server healthy afterwards" in out
    assert "Summary: Meets every MUST it was tested on" in out
    assert out.splitlines()[-1].startswith("  all ")
    assert ", 0 failed," in out.splitlines()[-1]


def test_without_proxy_the_suite_says_why_nothing_works(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = ServerConfig(proxy_protocol=ProxyVersion.ANY)
    with Server(Handler(), ports="0", config=config) as server:
        host, port = server.addresses[0]
        assert main([f"{host}:{port}", "--timeout", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"cannot grade {host}:{port}: ")
    assert "try --proxy" in err
