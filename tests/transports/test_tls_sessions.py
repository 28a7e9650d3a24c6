"""STARTTLS and implicit TLS over real sockets, checked against the generated certificate."""

from __future__ import annotations

import smtplib
import ssl
import time
from pathlib import Path

import pytest

from smtp_proto.config import AuthMode, ServerConfig, TlsMode
from smtp_proto.context import Context
from smtp_proto.errors import Smtpd535Error
from tests.transports.transport_support import (
    TIMEOUT,
    RawClient,
    Recorder,
    ServerFactory,
    address_of,
)
from transports import tls
from transports.base import ServerBase

BODY = b"Subject: secret\r\n\r\nover TLS\r\n"


def trusting(server: ServerBase) -> ssl.SSLContext:
    """A client context that trusts only the server's generated certificate, names checked."""
    assert server.certificate_pem is not None
    context = ssl.create_default_context(cadata=server.certificate_pem.decode("ascii"))
    assert context.check_hostname
    return context


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_starttls_verifies_the_generated_certificate(
    server_factory: ServerFactory, name: str
) -> None:
    handler = Recorder()
    server = server_factory(handler, tls_mode=TlsMode.OPTIONAL)
    _, port = address_of(server)
    with smtplib.SMTP(name, port, timeout=TIMEOUT) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        client.starttls(context=trusting(server))
        client.ehlo()
        assert not client.has_extn("starttls")
        client.sendmail("a@example.test", ["b@example.test"], BODY)
    [message] = handler.messages
    assert message.encrypted
    assert message.data == BODY


def test_starttls_over_ipv6(server_factory: ServerFactory) -> None:
    handler = Recorder()
    server = server_factory(handler, hosts="::1", tls_mode=TlsMode.OPTIONAL)
    with smtplib.SMTP(*address_of(server), timeout=TIMEOUT) as client:
        client.starttls(context=trusting(server))
        client.sendmail("a@example.test", ["b@example.test"], BODY)
    assert handler.messages[0].encrypted


def test_tls_required_refuses_mail_before_starttls(server_factory: ServerFactory) -> None:
    handler = Recorder()
    server = server_factory(handler, tls_mode=TlsMode.REQUIRED)
    with smtplib.SMTP(*address_of(server), timeout=TIMEOUT) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("a@example.test", ["b@example.test"], BODY)
        assert refused.value.smtp_code == 530
        client.starttls(context=trusting(server))
        client.sendmail("a@example.test", ["b@example.test"], BODY)
    assert len(handler.messages) == 1


def test_implicit_tls_listener_beside_a_plain_one(server_factory: ServerFactory) -> None:
    handler = Recorder()
    server = server_factory(handler, tls_implicit_ports="0")
    assert [item.tls for item in server.listeners] == [False, True]
    with smtplib.SMTP_SSL(
        *address_of(server, tls=True), context=trusting(server), timeout=TIMEOUT
    ) as client:
        client.ehlo()
        assert not client.has_extn("starttls")  # RFC 8314: already encrypted
        client.sendmail("a@example.test", ["b@example.test"], BODY)
    with smtplib.SMTP(*address_of(server), timeout=TIMEOUT) as client:
        client.ehlo()
        assert not client.has_extn("starttls")  # tls_mode stays FORBIDDEN on plain ports
        client.sendmail("a@example.test", ["b@example.test"], BODY)
    assert [m.encrypted for m in handler.messages] == [True, False]


class Alice(Recorder):
    def on_auth_event(
        self, ctx: Context, authorization_id: str, authentication_id: str, authentication: str
    ) -> str | None:
        if (authentication_id, authentication) != ("alice", "secret"):
            raise Smtpd535Error
        return None


def test_auth_is_offered_only_after_starttls(server_factory: ServerFactory) -> None:
    handler = Alice()
    config = ServerConfig(auth_mode=AuthMode.REQUIRED, tls_mode=TlsMode.OPTIONAL)
    server = server_factory(handler, config=config)
    with smtplib.SMTP(*address_of(server), timeout=TIMEOUT) as client:
        client.ehlo()
        assert not client.has_extn("auth")
        client.starttls(context=trusting(server))
        client.ehlo()
        assert client.has_extn("auth")
        client.user, client.password = "alice", "secret"
        assert client.auth("PLAIN", client.auth_plain)[0] == 235
        client.sendmail("alice@example.test", ["b@example.test"], BODY)
    assert handler.messages[0].authentication_id == "alice"


def test_given_certificate_files_are_used(server_factory: ServerFactory, tmp_path: Path) -> None:
    cert_pem, key_pem = tls.generate_certificate("mx.example.test", ["127.0.0.1"])
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    server = server_factory(
        Recorder(),
        tls_mode=TlsMode.OPTIONAL,
        tls_cert_path=tmp_path / "cert.pem",
        tls_key_path=tmp_path / "key.pem",
    )
    assert server.certificate_pem is None
    context = ssl.create_default_context(cadata=cert_pem.decode("ascii"))
    with smtplib.SMTP(*address_of(server), timeout=TIMEOUT) as client:
        client.starttls(context=context)
        assert client.noop()[0] == 250


def test_a_client_that_never_handshakes_is_closed(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    server = server_factory(Recorder(), tls_implicit_ports="0", tls_handshake_timeout=0.3)
    client = RawClient(address_of(server, tls=True))
    clients.append(client)
    started = time.monotonic()
    assert client.closed()  # no bytes at all, then the close
    assert time.monotonic() - started >= 0.3


def test_starttls_handshake_time_out_closes_and_ends_the_session(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    handler = Recorder()
    server = server_factory(handler, tls_mode=TlsMode.OPTIONAL, tls_handshake_timeout=0.3)
    client = RawClient(address_of(server))
    clients.append(client)
    client.reply()
    client.command(b"EHLO client.example.test")
    assert client.command(b"STARTTLS") == b"220 2.0.0 Ready to start TLS\r\n"
    started = time.monotonic()
    assert client.closed()
    # The server's clock starts after it sent the 220, which may be after this one started
    # on a loaded machine: a little slack, but far from an immediate close.
    assert time.monotonic() - started >= 0.25
    server.stop()
    assert handler.disconnects == 1


def test_a_failed_handshake_leaves_the_server_serving(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    server = server_factory(Recorder(), tls_implicit_ports="0")
    client = RawClient(address_of(server, tls=True))
    clients.append(client)
    client.send(b"EHLO not-tls\r\n")
    assert client.closed()
    with smtplib.SMTP_SSL(
        *address_of(server, tls=True), context=trusting(server), timeout=TIMEOUT
    ) as good:
        assert good.noop()[0] == 250
