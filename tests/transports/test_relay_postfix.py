"""`RelayHandler` in front of a real Postfix: a throw-away instance on a loopback port that
refuses some recipients and relays the rest into a server of ours.

client -> RelayHandler (ours) -> Postfix -> smtp_server (ours, keeps what arrives)
"""

from __future__ import annotations

import shutil
import smtplib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from smtp_proto.config import ServerConfig
from smtp_proto.handlers import RelayHandler
from tests.conformance import postfix_server
from tests.transports.transport_support import TIMEOUT
from transports.pytest_plugin import SmtpTestServer
from transports.threaded import Server

# Postfix's own recipient checks: one refused for good, one for now.
ACCESS = (
    "inline:{ {gone@example.test = 550 5.1.1 No such user},"
    " {later@example.test = 450 4.2.1 Try later} }"
)
# The services a relaying Postfix needs beside those postfix_server runs.
SMTP_CLIENT = "smtp unix - - n - - smtp\nrelay unix - - n - - smtp\n"
MAIL = "Subject: through postfix\r\nFrom: a@example.org\r\n\r\nHello\r\n"

pytestmark = pytest.mark.skipif(
    postfix_server.available() is not None, reason=str(postfix_server.available())
)


@contextmanager
def relaying_postfix(next_hop: int) -> Iterator[int]:
    """A Postfix on a free loopback port that relays everything to 127.0.0.1:`next_hop`;
    yields its port, then stops it and removes its directory."""
    root = Path(tempfile.mkdtemp(prefix="smtp-proto-postfix-relay-"))
    root.chmod(0o755)  # its daemons run as the postfix user
    try:
        port = postfix_server.free_port()
        settings = postfix_server.main_cf(root, strict=False, tls=None) | {
            "virtual_mailbox_domains": "",
            "relay_domains": "",
            "relayhost": f"[127.0.0.1]:{next_hop}",
            "smtp_tls_security_level": "none",
            "smtpd_recipient_restrictions": f"check_recipient_access {ACCESS}",
        }
        config = root / "etc"
        config.mkdir()
        (config / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        master = postfix_server._MASTER.format(address=f"127.0.0.1:{port}")
        (config / "master.cf").write_text(master + SMTP_CLIENT)
        (root / "queue").mkdir()
        for sub in ("data", "mail"):
            (root / sub).mkdir()
            shutil.chown(root / sub, "postfix", "postfix")
        try:
            postfix_server._postfix(config, "start")
            postfix_server._wait_listening(port, 20.0)
            yield port
        finally:
            postfix_server._stop(config, root)
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
