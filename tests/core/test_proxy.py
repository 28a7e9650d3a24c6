"""The PROXY protocol header read from bytes: both versions, each malformation refused as
soon as it shows, the same answer for every prefix, and a bounded look-ahead."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtp_proto import replies
from smtp_proto.config import ServerConfig
from smtp_proto.connection import ServerConnection
from smtp_proto.errors import LocalProtocolError
from smtp_proto.events import (
    NEED_DATA,
    CommandRejected,
    ConnectionClosed,
    ConnectionOpened,
    ProxyHeaderReceived,
)
from smtp_proto.proxy import (
    V1_MAX,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderError,
    ProxySsl,
    ProxyVersion,
    octets_wanted,
    read_proxy_header,
)
from smtp_proto.state import State
from tests.helpers import pump, wire

NEXT = b"EHLO client.example\r\n"  # what the client sends after the header


def v2(
    command: int = 1,
    family: int = 0x11,
    addresses: bytes = b"",
    tlvs: bytes = b"",
) -> bytes:
    body = addresses + tlvs
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(body)) + body


def inet(src: str, dst: str, sport: int, dport: int) -> bytes:
    packed = ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed
    return packed + struct.pack("!HH", sport, dport)


def tlv(kind: int, value: bytes) -> bytes:
    return bytes([kind]) + struct.pack("!H", len(value)) + value


V1_TCP4 = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n"
V1_TCP6 = b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 2525\r\n"
V2_TCP4 = v2(addresses=inet("192.0.2.1", "198.51.100.2", 56324, 25))
V2_TCP6_TLVS = v2(
    family=0x21,
    addresses=inet("2001:db8::1", "2001:db8::2", 4000, 2525),
    tlvs=tlv(0x01, b"smtp") + tlv(0x02, b"mx.example.test") + tlv(0x05, b"\x01\x02"),
)

GOOD = [
    (V1_TCP4, ProxyHeader(1, "PROXY", "TCP4", ("192.0.2.1", 56324), ("198.51.100.2", 25))),
    (V1_TCP6, ProxyHeader(1, "PROXY", "TCP6", ("2001:db8::1", 4000), ("2001:db8::2", 2525))),
    (b"PROXY UNKNOWN\r\n", ProxyHeader(1, "PROXY", "UNKNOWN")),
    (b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", ProxyHeader(1, "PROXY", "UNKNOWN")),
    (V2_TCP4, ProxyHeader(2, "PROXY", "TCP4", ("192.0.2.1", 56324), ("198.51.100.2", 25))),
    (
        V2_TCP6_TLVS,
        ProxyHeader(
            2,
            "PROXY",
            "TCP6",
            ("2001:db8::1", 4000),
            ("2001:db8::2", 2525),
            ((0x01, b"smtp"), (0x02, b"mx.example.test"), (0x05, b"\x01\x02")),
        ),
    ),
    (v2(command=0, family=0x00), ProxyHeader(2, "LOCAL", "UNKNOWN")),  # a health check
    (
        v2(command=0, family=0x11, addresses=inet("10.0.0.1", "10.0.0.2", 1, 2)),
        ProxyHeader(2, "LOCAL", "UNKNOWN"),
    ),
    (v2(family=0x00), ProxyHeader(2, "PROXY", "UNKNOWN")),
]


@pytest.mark.parametrize(("header", "expected"), GOOD)
def test_a_header_is_read_with_its_length_and_what_follows_is_left(
    header: bytes, expected: ProxyHeader
) -> None:
    assert read_proxy_header(header + NEXT) == (expected, len(header))


@pytest.mark.parametrize(("header", "expected"), GOOD)
def test_every_prefix_needs_more_and_no_split_changes_the_answer(
    header: bytes, expected: ProxyHeader
) -> None:
    for end in range(len(header)):
        assert read_proxy_header(header[:end]) is None
    assert read_proxy_header(header) == (expected, len(header))


def test_tlvs_are_found_by_kind() -> None:
    found = read_proxy_header(V2_TCP6_TLVS)
    assert found is not None
    assert (found[0].tlv(0x02), found[0].tlv(0x20)) == (b"mx.example.test", None)


BAD = [
    b"HELO there\r\n",  # no header at all: a client that came without the proxy
    b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\n",  # bare LF
    b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 65536\r\n",  # port out of range
    b"PROXY TCP4 192.0.2.1 198.51.100.2 056324 25\r\n",  # a leading zero
    b"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",  # not an IPv4 address
    b"PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n",  # not an IPv6 address
    b"PROXY TCP4 192.0.2.1  198.51.100.2 1 2\r\n",  # two spaces
    b"PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n",  # not a PROXY v1 protocol
    b"PROXY UNKNOWN " + b"x" * 100 + b"\r\n",  # longer than 107 octets
    b"proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n",  # the keyword is upper case
    V2_SIGNATURE[:11] + b"X",  # a wrong signature
    V2_SIGNATURE + b"\x31\x11\x00\x0c" + bytes(12),  # version 3
    V2_SIGNATURE + b"\x22\x11\x00\x0c" + bytes(12),  # command 2
    V2_SIGNATURE + b"\x21\x41\x00\x00",  # address family 4
    V2_SIGNATURE + b"\x21\x11\x00\x04" + bytes(4),  # shorter than its addresses
    v2(addresses=inet("192.0.2.1", "198.51.100.2", 1, 2), tlvs=b"\x01\x00"),  # TLV cut short
    v2(addresses=inet("192.0.2.1", "198.51.100.2", 1, 2), tlvs=b"\x01\x00\x09abc"),
]


@pytest.mark.parametrize("data", BAD, ids=range(len(BAD)))
def test_a_malformed_header_is_refused_as_soon_as_it_shows(data: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        read_proxy_header(data)
    with pytest.raises(ProxyHeaderError):  # what follows cannot mend it
        read_proxy_header(data + NEXT)


def test_a_version_not_expected_is_refused() -> None:
    with pytest.raises(ProxyHeaderError):
        read_proxy_header(V2_TCP4, ProxyVersion.V1)
    with pytest.raises(ProxyHeaderError):
        read_proxy_header(V1_TCP4, ProxyVersion.V2)
    assert read_proxy_header(V1_TCP4, ProxyVersion.V1) is not None
    assert read_proxy_header(V2_TCP4, ProxyVersion.V2) is not None


def test_the_look_ahead_is_bounded() -> None:
    # v1: 107 octets at most; a line that has not ended by then is refused, not waited for.
    assert read_proxy_header(b"PROXY UNKNOWN " + b"x" * (V1_MAX - 17)) is None
    with pytest.raises(ProxyHeaderError):
        read_proxy_header(b"PROXY UNKNOWN " + b"x" * (V1_MAX - 14))
    # v2: the TLV block is capped; the head says its size, so a flood is refused at once.
    addresses = inet("192.0.2.1", "198.51.100.2", 1, 2)
    fits = v2(addresses=addresses, tlvs=tlv(0x04, bytes(97)))  # 100 octets of TLVs
    assert read_proxy_header(fits, max_tlvs=100) is not None
    with pytest.raises(ProxyHeaderError):
        read_proxy_header(fits[:16], max_tlvs=99)


@given(st.sampled_from([g for g, _ in GOOD] + BAD), st.binary(max_size=40))
def test_the_answer_for_any_input_depends_on_no_read_boundary(head: bytes, tail: bytes) -> None:
    # Feeding more can only complete or refuse a header, never change a complete one.
    data = head + tail
    outcomes: list[object] = []
    for end in range(len(data) + 1):
        try:
            outcomes.append(read_proxy_header(data[:end]))
        except ProxyHeaderError:
            outcomes.append("refused")
    first = next((i for i, o in enumerate(outcomes) if o is not None), None)
    if first is not None:
        assert all(o == outcomes[first] for o in outcomes[first:])


# In the connection -----------------------------------------------------------------------


def read_exactly(stream: bytes, sizes: list[int]) -> bytes:
    """What a transport reads from `stream` asking `octets_wanted` before each read, each
    read giving at most what was asked and, in turn, at most the next of `sizes`."""
    data, turn = b"", 0
    while want := octets_wanted(data):
        size = min(want, sizes[turn % len(sizes)]) if sizes else want
        turn += 1
        chunk = stream[len(data) : len(data) + size]
        if not chunk:
            break
        data += chunk
    return data


@given(
    st.sampled_from([g for g, _ in GOOD]),
    st.binary(min_size=1, max_size=40),
    st.lists(st.integers(1, 20), max_size=5),
)
def test_reading_as_much_as_wanted_takes_the_header_and_nothing_after_it(
    header: bytes, after: bytes, sizes: list[int]
) -> None:
    assert read_exactly(header + after, sizes) == header


@pytest.mark.parametrize("data", BAD, ids=range(len(BAD)))
def test_reading_stops_at_a_malformation_within_a_bounded_prefix(data: bytes) -> None:
    taken = read_exactly(data + b"x" * 70_000, [])
    assert len(taken) <= max(len(data), 107)
    with pytest.raises(ProxyHeaderError):
        read_proxy_header(taken)


def test_a_tls_hello_without_a_header_costs_15_octets() -> None:
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(500)
    assert read_exactly(hello, []) == hello[:15]


PROXIED = ServerConfig(proxy_protocol=ProxyVersion.ANY)
GREETING = b"220 localhost ESMTP smtp-proto ready\r\n"


@pytest.mark.parametrize("header", [V1_TCP4, V2_TCP4], ids=["v1", "v2"])
def test_nothing_is_greeted_before_the_header_and_accepting_it_greets(header: bytes) -> None:
    conn = ServerConnection(PROXIED)
    assert conn.state is State.PROXY
    assert conn.next_event() is NEED_DATA
    assert conn.data_to_send() == b""
    conn.receive_data(header[:5])
    assert conn.next_event() is NEED_DATA
    conn.receive_data(header[5:] + b"NOOP\r\n")  # the client's first command may follow
    event = conn.next_event()
    assert event == ProxyHeaderReceived(header=GOOD[0 if header is V1_TCP4 else 4][1])
    with pytest.raises(LocalProtocolError):
        conn.accept(replies.OK)  # a PROXY header takes no reply
    conn.accept()
    assert conn.data_to_send() == b""
    assert pump(conn) == [ConnectionOpened()]  # accepted by pump: the greeting goes out
    assert conn.data_to_send() == GREETING + wire(replies.NOOP_OK)


def test_a_rejected_header_closes_with_nothing_sent() -> None:
    conn = ServerConnection(PROXIED)
    conn.receive_data(V1_TCP4 + b"NOOP\r\n")
    assert isinstance(conn.next_event(), ProxyHeaderReceived)
    conn.reject()
    assert conn.next_event() == ConnectionClosed(by_client=False)
    assert conn.data_to_send() == b""


@pytest.mark.parametrize("data", [BAD[0], BAD[1], BAD[10], b"EHLO x\r\n"], ids=range(4))
def test_a_malformed_or_missing_header_closes_with_nothing_sent(data: bytes) -> None:
    for size in (1, len(data)):  # a byte at a time or whole: the same end
        conn = ServerConnection(PROXIED)
        events = []
        for start in range(0, len(data), size):
            if conn.closed:
                break
            conn.receive_data(data[start : start + size])
            while (event := conn.next_event()) is not NEED_DATA:
                events.append(event)
                if isinstance(event, ConnectionClosed):
                    break
        assert events == [ConnectionClosed(by_client=False)]
        assert conn.data_to_send() == b""


def test_a_client_gone_before_its_header_ends_the_session() -> None:
    conn = ServerConnection(PROXIED)
    conn.receive_data(V1_TCP4[:10])
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed(by_client=True)
    assert conn.data_to_send() == b""


def test_without_proxy_mode_a_header_is_an_unknown_command() -> None:
    conn = ServerConnection(ServerConfig())
    events = pump(conn, V1_TCP4)
    assert [type(e) for e in events] == [ConnectionOpened, CommandRejected]


def test_the_tlvs_haproxy_sends_are_decoded() -> None:
    ssl_tlv = (
        bytes([0x07])  # TLS, a client certificate on this connection and in the session
        + (0).to_bytes(4, "big")  # verified
        + tlv(0x21, b"TLSv1.3")
        + tlv(0x22, b"client.example")
        + tlv(0x23, b"TLS_AES_256_GCM_SHA384")
        + tlv(0x24, b"SHA256")
        + tlv(0x25, b"RSA2048")
    )
    header = v2(
        addresses=inet("192.0.2.1", "198.51.100.2", 1, 2),
        tlvs=tlv(0x01, b"smtp") + tlv(0x02, b"mx.example.test") + tlv(0x05, b"id-1")
        + tlv(0x20, ssl_tlv),
    )  # fmt: skip
    found = read_proxy_header(header)
    assert found is not None
    proxy = found[0]
    assert (proxy.alpn, proxy.authority, proxy.unique_id) == (b"smtp", "mx.example.test", b"id-1")
    assert proxy.ssl == ProxySsl(
        client=7,
        verified=True,
        version="TLSv1.3",
        common_name="client.example",
        cipher="TLS_AES_256_GCM_SHA384",
        signature_algorithm="SHA256",
        key_algorithm="RSA2048",
    )
    plain = read_proxy_header(V2_TCP4)
    assert plain is not None
    assert (plain[0].ssl, plain[0].alpn, plain[0].authority) == (None, None, None)


def test_a_cut_ssl_tlv_refuses_the_header() -> None:
    header = v2(addresses=inet("192.0.2.1", "198.51.100.2", 1, 2), tlvs=tlv(0x20, b"\x01\x00"))
    with pytest.raises(ProxyHeaderError, match="SSL TLV"):
        read_proxy_header(header)
