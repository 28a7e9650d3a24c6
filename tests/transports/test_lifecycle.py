"""start/stop/join, binding errors, and graceful stop with sessions in every stage."""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
import time

import pytest

from smtp_proto.context import Context
from tests.transports.transport_support import (
    Gate,
    RawClient,
    Recorder,
    ServerFactory,
    address_of,
    engine_class,
    free_port,
    start_in_thread,
)

SHUTTING_DOWN = b"421 4.3.2 Service shutting down, closing transmission channel\r\n"
ACCEPTED = b"250 2.6.0 Message accepted\r\n"


def open_data(client: RawClient) -> None:
    """Greeting, EHLO, one recipient, DATA, and part of a message."""
    client.reply()
    client.command(b"EHLO client.example.test")
    client.send(b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")
    assert [client.code() for _ in range(3)] == [250, 250, 354]
    client.send(b"Subject: in flight\r\n\r\nfirst line\r\n")


def test_start_binds_before_returning_and_addresses_tell_where(engine: str) -> None:
    server = engine_class(engine)(Recorder(), ports="0", hosts="127.0.0.1, ::1")
    assert server.addresses == []
    server.start()
    try:
        [(v4, p4), (v6, p6)] = server.addresses
        assert (v4, v6) == ("127.0.0.1", "::1")
        assert p4 > 0
        assert p6 > 0
        for address in server.addresses:
            with RawClient(address) as client:
                assert client.code() == 220
    finally:
        server.stop()
    assert server.join(0)


def test_context_manager_starts_and_stops(engine: str) -> None:
    with engine_class(engine)(Recorder(), ports="0") as server:
        address = address_of(server)
        seen = [server.stopping]
    assert [*seen, server.stopping] == [False, True]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=5).close()


def test_a_taken_port_raises_at_start_and_binds_nothing(engine: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = engine_class(engine)(Recorder(), ports=f"0, {port}", hosts="::1, 127.0.0.1")
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            server.start()
    assert server.addresses == []
    server.stop()


def test_an_address_given_twice_raises_at_start(engine: str) -> None:
    port = free_port()
    server = engine_class(engine)(Recorder(), ports=str(port), hosts="127.0.0.1, localhost")
    with pytest.raises(ValueError, match=f"127.0.0.1:{port} is given twice"):
        server.start()


def test_start_twice_is_an_error_and_stop_twice_is_harmless(server_factory: ServerFactory) -> None:
    server = server_factory(Recorder())
    with pytest.raises(RuntimeError, match="already started"):
        server.start()
    server.stop()
    server.stop()
    assert server.join(0)


def test_stop_before_start_is_harmless(engine: str) -> None:
    server = engine_class(engine)(Recorder(), ports="0")
    assert server.join(0)
    server.stop()


def test_join_returns_once_another_thread_stops(server_factory: ServerFactory) -> None:
    server = server_factory(Recorder())
    assert not server.join(0.05)
    stopper = start_in_thread(server.stop)
    assert server.join(10)
    stopper.join()


class AsyncRcpt(Recorder):
    async def on_rcpt_to_event(self, ctx: Context, rcpt_to: str) -> str | None:
        return None


def test_async_hooks_are_refused_by_blocking_engines(engine: str) -> None:
    if engine_class(engine).allows_async_hooks:
        pytest.skip("this engine runs async hooks")
    with pytest.raises(TypeError, match="cannot run async def hooks: on_rcpt_to_event"):
        engine_class(engine)(AsyncRcpt(), ports="0")


def test_stop_closes_idle_sessions_at_once(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    server = server_factory(Recorder())
    client = RawClient(address_of(server))
    clients.append(client)
    client.reply()
    client.command(b"EHLO client.example.test")
    started = time.monotonic()
    server.stop(grace=30.0)
    assert time.monotonic() - started < 5.0
    assert client.reply() == SHUTTING_DOWN
    assert client.closed()


def test_a_message_finished_within_the_grace_is_delivered(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    handler = Recorder()
    server = server_factory(handler)
    client = RawClient(address_of(server))
    clients.append(client)
    open_data(client)
    stopper = start_in_thread(lambda: server.stop(grace=10.0))
    stopper.join(0.3)
    assert server.stopping
    assert stopper.is_alive()  # waiting for the session in DATA
    assert client.command(b"last line\r\n.") == ACCEPTED
    assert client.reply() == SHUTTING_DOWN  # then the session is idle: closed at once
    assert client.closed()
    stopper.join()
    assert [m.data for m in handler.messages] == [
        b"Subject: in flight\r\n\r\nfirst line\r\nlast line\r\n"
    ]


def test_a_message_unfinished_at_the_deadline_gets_421_and_is_dropped(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    handler = Recorder()
    server = server_factory(handler)
    client = RawClient(address_of(server))
    clients.append(client)
    open_data(client)
    started = time.monotonic()
    server.stop(grace=0.3)
    assert 0.3 <= time.monotonic() - started < 5.0
    assert client.reply() == SHUTTING_DOWN
    assert client.closed()
    assert handler.messages == []


class SlowStore(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.gate = Gate()

    def on_message_data_event(self, ctx: Context) -> None:
        self.gate.wait()
        super().on_message_data_event(ctx)


def test_a_hook_running_past_the_deadline_is_waited_for(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    handler = SlowStore()
    server = server_factory(handler)
    client = RawClient(address_of(server))
    clients.append(client)
    open_data(client)
    client.send(b".\r\n")
    assert handler.gate.reached()
    stopper = start_in_thread(lambda: server.stop(grace=0.1))
    stopper.join(0.5)
    assert stopper.is_alive()  # still waiting for the hook, well past the grace
    handler.gate.released.set()
    assert client.reply() == ACCEPTED
    assert client.reply() == SHUTTING_DOWN
    stopper.join()
    assert len(handler.messages) == 1


def test_never_a_250_without_delivery_when_stopping_mid_data(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    handler = Recorder()
    server = server_factory(handler, max_processings=8)
    for _ in range(8):
        clients.append(RawClient(address_of(server)))
        open_data(clients[-1])
    go = threading.Event()

    def finish(client: RawClient, delay: float) -> None:
        go.wait()
        time.sleep(delay)  # spread the ends of data across the 0.2 s deadline
        with contextlib.suppress(OSError):  # already closed by the server
            client.send(b"last line\r\n.\r\n")

    senders = [
        start_in_thread(functools.partial(finish, client, n * 0.05))
        for n, client in enumerate(clients)
    ]
    stopper = start_in_thread(lambda: server.stop(grace=0.2))
    go.set()
    for sender in senders:
        sender.join()
    stopper.join()
    first_replies = [client.reply() for client in clients]
    assert set(first_replies) == {ACCEPTED, SHUTTING_DOWN}
    assert first_replies[0] == ACCEPTED
    assert first_replies[-1] == SHUTTING_DOWN
    assert first_replies.count(ACCEPTED) == len(handler.messages)
