"""`RelayHandler` in front of a real Postfix: a throw-away instance on a loopback port that
refuses some recipients and relays the rest into a server of ours.

client -> RelayHandler (ours) -> Postfix -> smtp_server (ours, keeps what arrives)
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from smtp_proto.config import ServerConfig
from smtp_proto.handlers import RelayHandler
from tests.transports.transport_support import TIMEOUT, free_port
from transports.pytest_plugin import SmtpTestServer
from transports.threaded import Server

POSTFIX = Path("/usr/sbin/postfix")
# Postfix's own recipient checks: one refused for good, one for now.
ACCESS = (
    "inline:{ {gone@example.test = 550 5.1.1 No such user},"
    " {later@example.test = 450 4.2.1 Try later} }"
)
# The services a relaying Postfix needs; no chroot, so nothing outside its folder is used.
MASTER = """\
{address} inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
proxymap unix - - n - - proxymap
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
smtp unix - - n - - smtp
relay unix - - n - - smtp
postlog unix-dgram n - n - 1 postlogd
"""
MAIL = "Subject: through postfix\r\nFrom: a@example.org\r\n\r\nHello\r\n"


def _unavailable() -> str | None:
    if not POSTFIX.exists():
        return "postfix is not installed"
    if os.geteuid() != 0:
        return "postfix's master must start as root"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "no postfix user"
    return None


pytestmark = pytest.mark.skipif(_unavailable() is not None, reason=str(_unavailable()))


def _settings(root: Path, next_hop: int) -> dict[str, str]:
    return {
        "compatibility_level": "3.6",
        "queue_directory": str(root / "queue"),
        "data_directory": str(root / "data"),
        "maillog_file": str(root / "postfix.log"),
        "maillog_file_prefixes": str(root),
        "mail_owner": "postfix",
        "myhostname": "postfix.example.test",
        "mydestination": "",
        "inet_interfaces": "127.0.0.1",
        "inet_protocols": "ipv4",
        "mynetworks": "127.0.0.0/8",
        "alias_maps": "",
        "alias_database": "",
        "relayhost": f"[127.0.0.1]:{next_hop}",
        "smtp_tls_security_level": "none",
        "smtpd_recipient_restrictions": f"check_recipient_access {ACCESS}",
    }


def _postfix(config: Path, command: str) -> None:
    subprocess.run(  # noqa: S603 (fixed argv)
        [str(POSTFIX), "-c", str(config), command], check=True, capture_output=True
    )


def _greets(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
                sock.recv(100)  # the greeting: smtpd is up, not only master's socket
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # master binds the port after forking; nothing to wait on


def _stop(config: Path, root: Path) -> None:
    pid = None
    with contextlib.suppress(OSError, ValueError):
        pid = int((root / "queue" / "pid" / "master.pid").read_text().split()[0])
    with contextlib.suppress(subprocess.CalledProcessError):
        _postfix(config, "stop")
    deadline = time.monotonic() + 20
    while pid is not None and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)  # postfix stop signals master and returns before it exits
    if pid is not None:
        with contextlib.suppress(subprocess.CalledProcessError):
            _postfix(config, "abort")


@contextmanager
def relaying_postfix(next_hop: int) -> Iterator[int]:
    """A Postfix on a free loopback port, with its own config and queue under /tmp, that
    relays everything to 127.0.0.1:`next_hop`; yields its port, then stops it and removes
    its folder. Never touches /etc/postfix or the system instance."""
    root = Path(tempfile.mkdtemp(prefix="smtp-proto-postfix-relay-"))
    root.chmod(0o755)  # its daemons run as the postfix user
    try:
        port = free_port()
        config = root / "etc"
        config.mkdir()
        settings = _settings(root, next_hop)
        (config / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        (config / "master.cf").write_text(MASTER.format(address=f"127.0.0.1:{port}"))
        (root / "queue").mkdir()  # root's; postfix start makes the owned parts inside
        (root / "data").mkdir()
        shutil.chown(root / "data", "postfix", "postfix")
        try:
            _postfix(config, "start")
            _greets(port, 20.0)
            yield port
        finally:
            _stop(config, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_postfix_upstream_takes_relays_and_refuses(smtp_server: SmtpTestServer) -> None:
    with relaying_postfix(smtp_server.port) as postfix:
        handler = RelayHandler(
            "127.0.0.1", postfix, tls="off", hostname="relay.example.test", timeout=TIMEOUT
        )
        relay = Server(handler, "0", "127.0.0.1", config=ServerConfig(binarymime=False))
        with relay:
            rcpts = ["b@example.test", "gone@example.test", "later@example.test"]
            with smtplib.SMTP(*relay.addresses[0], timeout=TIMEOUT) as client:
                refused = client.sendmail("a@example.org", rcpts, MAIL)
        [mail] = smtp_server.wait_for(1, timeout=30)  # Postfix queues, then delivers
    assert refused["later@example.test"] == (
        451,
        b"4.4.0 Upstream server deferred: 450 4.2.1 <later@example.test>:"
        b" Recipient address rejected: Try later",
    )
    code, text = refused["gone@example.test"]
    assert (code, text) == (
        550,
        b"5.1.1 <gone@example.test>: Recipient address rejected: No such user",
    )
    assert len(refused) == 2
    assert (mail.mail_from, mail.rcpt_to) == ("a@example.org", ("b@example.test",))
    received = mail.message.get_all("Received") or []
    assert "by postfix.example.test (Postfix)" in received[0]
    assert "from relay.example.test" in received[0]
    assert "by relay.example.test (smtp-proto)" in received[1]
