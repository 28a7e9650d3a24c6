"""PROXY headers on every engine: a trusted load balancer (loopback by default) names the
client, which the hooks then see; a peer outside `proxy_trusted` is closed unanswered."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from smtp_proto.config import ServerConfig
from smtp_proto.context import Context
from smtp_proto.handler import Handler
from smtp_proto.proxy import ProxyVersion
from tests.transports.transport_support import RawClient, ServerFactory, address_of

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
