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
from tests.transports.test_proxy_engines import Peers
from tests.transports.transport_support import TIMEOUT, ServerFactory, address_of, free_port

HAPROXY = shutil.which("haproxy") or (
    "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
)
pytestmark = pytest.mark.skipif(HAPROXY is None, reason="HAProxy is not installed")


@contextlib.contextmanager
def haproxy(backend: int, send_proxy: str, tmp_path: Path) -> Iterator[int]:
    """HAProxy on a free loopback port in front of `backend`; yields its port."""
    port = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n"
        "  timeout server 30s\n"
        f"frontend smtp\n  bind 127.0.0.1:{port}\n  default_backend smtp\n"
        f"backend smtp\n  server s1 127.0.0.1:{backend} {send_proxy} "
        "check inter 100ms check-send-proxy\n"
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
