"""PROXY headers on every engine: a trusted load balancer (loopback by default) names the
client, which the hooks then see; a peer outside `proxy_trusted` is closed unanswered."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

import pytest

from smtp_proto.config import ServerConfig
from smtp_proto.context import Context
from smtp_proto.handler import Handler
from smtp_proto.proxy import ProxyVersion
from tests.transports.test_tls_sessions import trusting
from tests.transports.transport_support import TIMEOUT, RawClient, ServerFactory, address_of
from transports.base import ServerBase

GREETING = b"220 localhost ESMTP smtp-proto ready\r\n"
V1 = b"PROXY TCP4 192.0.2.9 198.51.100.2 56324 25\r\n"
V2 = (
    b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c"
    + bytes([192, 0, 2, 9, 198, 51, 100, 2])
    + (56324).to_bytes(2, "big")
    + (25).to_bytes(2, "big")
)


@dataclass
class Peers(Handler):
    """Records who each session says its client is."""

    seen: list[tuple[str, int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_helo_event(self, ctx: Context, helo: str) -> None:
        with self.lock:
            self.seen.append((ctx.server.remote_ip, ctx.server.remote_port, ctx.server.proxy_ip))


@pytest.mark.parametrize("header", [V1, V2], ids=["v1", "v2"])
def test_a_trusted_proxy_names_the_client(
    server_factory: ServerFactory, clients: list[RawClient], header: bytes
) -> None:
    handler = Peers()
    server = server_factory(handler, config=ServerConfig(proxy_protocol=ProxyVersion.ANY))
    client = RawClient(address_of(server))
    clients.append(client)
    client.send(header[:7])  # nothing is said before the whole header
    client.send(header[7:] + b"EHLO client.example.test\r\n")
    assert client.reply() == GREETING
    assert client.reply().startswith(b"250-localhost")
    assert handler.seen == [("192.0.2.9", 56324, "127.0.0.1")]


def test_a_peer_outside_the_trusted_networks_is_closed_unanswered(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    config = ServerConfig(proxy_protocol=ProxyVersion.V1, proxy_trusted=("10.0.0.0/8",))
    handler = Peers()
    server = server_factory(handler, config=config)
    client = RawClient(address_of(server))
    clients.append(client)
    client.send(V1 + b"EHLO client.example.test\r\n")
    assert client.closed()  # no greeting, no reply: the peer claimed an address it may not
    assert handler.seen == []


def test_a_connection_without_its_header_is_closed_unanswered(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    server = server_factory(Peers(), config=ServerConfig(proxy_protocol=ProxyVersion.V2))
    client = RawClient(address_of(server))
    clients.append(client)
    client.send(b"EHLO client.example.test\r\n")
    assert client.closed()


def tls_through_proxy(server: ServerBase, header: bytes, pieces: int = 1) -> ssl.SSLSocket:
    """A client of the implicit-TLS port behind a proxy: the header in clear (in `pieces`),
    then the TLS handshake on the same connection."""
    sock = socket.create_connection(address_of(server, tls=True), timeout=TIMEOUT)
    try:
        step = max(1, -(-len(header) // pieces))
        for start in range(0, len(header), step):
            sock.sendall(header[start : start + step])
            time.sleep(0.02)  # separate reads for the server
        return trusting(server).wrap_socket(sock, server_hostname="localhost")
    except BaseException:
        sock.close()
        raise


@pytest.mark.parametrize("header", [V1, V2], ids=["v1", "v2"])
def test_an_implicit_tls_port_reads_the_header_before_the_handshake(
    server_factory: ServerFactory, header: bytes
) -> None:
    handler = Peers()
    config = ServerConfig(proxy_protocol=ProxyVersion.ANY)
    server = server_factory(handler, config=config, tls_implicit_ports=0)
    with tls_through_proxy(server, header, pieces=3) as tls:
        reader = tls.makefile("rb")
        assert reader.readline() == GREETING
        tls.sendall(b"EHLO client.example.test\r\n")
        while reader.readline().startswith(b"250-"):
            pass
    assert handler.seen == [("192.0.2.9", 56324, "127.0.0.1")]


def test_an_implicit_tls_port_closes_a_hello_without_its_header(
    server_factory: ServerFactory,
) -> None:
    handler = Peers()
    server = server_factory(
        handler, config=ServerConfig(proxy_protocol=ProxyVersion.V2), tls_implicit_ports=0
    )
    with pytest.raises((ssl.SSLError, OSError)):  # no handshake: the connection is closed
        tls_through_proxy(server, b"").close()
    with tls_through_proxy(server, V2) as tls:  # the next client is served
        assert tls.makefile("rb").readline() == GREETING
    assert handler.seen == []


def test_an_implicit_tls_port_closes_a_header_that_never_ends(
    server_factory: ServerFactory,
) -> None:
    config = ServerConfig(proxy_protocol=ProxyVersion.V1)
    server = server_factory(Peers(), config=config, tls_implicit_ports=0, tls_handshake_timeout=0.3)
    with socket.create_connection(address_of(server, tls=True), timeout=TIMEOUT) as sock:
        started = time.monotonic()
        sock.sendall(V1[:20])  # and nothing more
        assert sock.recv(1) == b""  # closed, nothing sent
        assert 0.3 <= time.monotonic() - started < TIMEOUT
