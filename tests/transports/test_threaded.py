"""The threaded engine's reactor: sessions waiting for their clients hold no thread of
their own, and without epoll every session keeps one, serving the same."""

from __future__ import annotations

import threading

import pytest

from tests.transports.transport_support import RawClient, Recorder, address_of
from transports import reactor, threaded

SESSIONS = 30


def _open_idle(server: threaded.Server, clients: list[RawClient]) -> None:
    """SESSIONS sessions that have said EHLO and now wait for their client."""
    for _ in range(SESSIONS):
        client = RawClient(address_of(server))
        clients.append(client)
        assert client.code() == 220
        assert client.command(b"EHLO client.example.org").startswith(b"250")


def _session_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "smtp-proto-session")


def _deliver(client: RawClient) -> None:
    assert client.command(b"MAIL FROM:<a@example.org>").startswith(b"250")
    assert client.command(b"RCPT TO:<b@example.org>").startswith(b"250")
    assert client.command(b"DATA").startswith(b"354")
    client.send(b"Subject: hi\r\n\r\nbody\r\n.\r\n")
    assert client.code() == 250


@pytest.mark.skipif(not reactor.AVAILABLE, reason="the reactor needs epoll")
def test_idle_sessions_hold_no_thread(clients: list[RawClient]) -> None:
    handler = Recorder()  # its hooks run in session threads, which park again after
    server = threaded.Server(handler, ports="0", hosts="127.0.0.1", max_processings=SESSIONS)
    server.start()
    try:
        _open_idle(server, clients)
        assert _session_threads() == 0
        for client in clients:
            _deliver(client)
        threads_after_hooks = _session_threads()
        _deliver(clients[0])  # a parked session goes on as before
        assert len(handler.messages) == SESSIONS + 1
        assert threads_after_hooks < SESSIONS  # reused: the sessions went back to waiting
    finally:
        server.stop(grace=0)


def test_without_epoll_every_session_keeps_a_thread(
    clients: list[RawClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reactor, "AVAILABLE", False)
    handler = Recorder()
    server = threaded.Server(handler, ports="0", hosts="127.0.0.1", max_processings=SESSIONS)
    server.start()
    try:
        _open_idle(server, clients)
        assert _session_threads() == SESSIONS
        for client in clients:
            _deliver(client)
        assert len(handler.messages) == SESSIONS
    finally:
        server.stop(grace=0)
