"""A real load balancer in front: HAProxy relays clients with PROXY v2 (and v1), on every
engine. The hooks see the client's own address, HAProxy's health checks are served as
sessions of the proxy itself, and nothing is logged above INFO. Skipped where HAProxy is
not installed (Debian: apt-get install haproxy; `.ci/run` installs it when it can)."""

from __future__ import annotations

import contextlib
import logging
import shutil
import smtplib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtp_proto.config import ServerConfig
from smtp_proto.proxy import ProxyVersion
from tests.transports.test_cli import serve, stored
from tests.transports.test_proxy_engines import Peers
from tests.transports.transport_support import TIMEOUT, ServerFactory, address_of, free_port
from transports import engines

HAPROXY = shutil.which("haproxy") or (
    "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
)
pytestmark = pytest.mark.skipif(HAPROXY is None, reason="HAProxy is not installed")


@contextlib.contextmanager
def haproxy(
    backend: int | list[int], send_proxy: str, tmp_path: Path, source: str = ""
) -> Iterator[int]:
    """HAProxy on a free loopback port in front of the `backend` ports (round robin),
    connecting to them from `source` when given; yields its port."""
    port = free_port()
    config = tmp_path / "haproxy.cfg"
    servers = "".join(
        f"  server s{n} 127.0.0.1:{each} {send_proxy} check inter 100ms check-send-proxy"
        + (f" source {source}" if source else "")
        + "\n"
        for n, each in enumerate([backend] if isinstance(backend, int) else backend)
    )
    config.write_text(
        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n"
        "  timeout server 30s\n"
        f"frontend smtp\n  bind 127.0.0.1:{port}\n  default_backend smtp\n"
        f"backend smtp\n  balance roundrobin\n{servers}"
    )
    assert HAPROXY is not None
    with subprocess.Popen(  # noqa: S603
        [HAPROXY, "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as proc:
        try:
            deadline = time.monotonic() + TIMEOUT
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
                assert time.monotonic() < deadline, "HAProxy did not start"
                time.sleep(0.05)
            yield port
        finally:
            proc.terminate()
            proc.wait(TIMEOUT)


@pytest.mark.parametrize("send_proxy", ["send-proxy-v2", "send-proxy"])
def test_mail_through_haproxy_carries_the_clients_own_address(
    server_factory: ServerFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    send_proxy: str,
) -> None:
    caplog.set_level(logging.INFO, logger="smtp_proto")
    handler = Peers()
    server = server_factory(handler, config=ServerConfig(proxy_protocol=ProxyVersion.ANY))
    with haproxy(address_of(server)[1], send_proxy, tmp_path) as port:
        time.sleep(0.3)  # a few health checks go by
        with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as client:
            assert client.sock is not None
            mine = client.sock.getsockname()[1]
            assert client.ehlo()[0] == 250
            client.sendmail("a@example.test", ["b@example.test"], "Subject: hi\r\n\r\nhi\r\n")
    seen = [entry for entry in handler.seen if entry[1] == mine]
    assert len(seen) == 1  # the client's own port, not HAProxy's
    remote_ip, _, proxy_ip = seen[0]
    assert (remote_ip, proxy_ip) == ("127.0.0.1", "127.0.0.1")
    noisy = [r.getMessage() for r in caplog.records if r.levelno > logging.INFO]
    assert noisy == []  # health checks and relayed sessions alike are quiet


@pytest.mark.parametrize("send_proxy", ["send-proxy-v2", "send-proxy"])
@pytest.mark.parametrize("transport", engines.ENGINES)
def test_haproxy_in_front_of_two_serve_processes(
    tmp_path: Path, transport: str, send_proxy: str
) -> None:
    """The deployment the README shows: mail from 127.0.0.3 through HAProxy (which connects
    from 127.0.0.2) to two `serve` processes trusting only HAProxy lands in their Maildirs
    under the client's address, both take sessions, and health checks log nothing."""
    options = ["--transport", transport, "--proxy-protocol", "any"]
    options += ["--proxy-trusted", "127.0.0.2/32", "--maildir"]
    with (
        serve(*options, str(tmp_path / "one")) as one,
        serve(*options, str(tmp_path / "two")) as two,
        haproxy([one.address()[1], two.address()[1]], send_proxy, tmp_path, "127.0.0.2") as port,
    ):
        time.sleep(0.3)  # a few health checks go by
        for n in range(4):  # round robin: two each
            with smtplib.SMTP(
                "127.0.0.1", port, timeout=TIMEOUT, source_address=("127.0.0.3", 0)
            ) as client:
                client.sendmail("a@example.test", ["b@example.test"], f"Subject: {n}\r\n\r\n")
        assert (one.stop(), two.stop()) == (0, 0)
    for each, folder in ((one, "one"), (two, "two")):
        received = [m["Received"] for m in stored(tmp_path / folder)]
        assert len(received) == 2
        assert sum(" accepted " in line for line in each.log) == 2
        assert all(r.split("\n")[0].endswith(" ([127.0.0.3])") for r in received)  # TCP-info
        noisy = [line for line in each.log if " INFO " not in line]
        assert noisy == []  # no warning, error or traceback from health checks or sessions
