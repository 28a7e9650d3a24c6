"""Processing slots: held while a hook runs, never while a session waits for its client.

So no number of silent or slow clients keeps another client from its greeting, and a hook
that finds every slot taken waits a bounded time, then its session gets 421 4.3.2.
"""

from __future__ import annotations

import smtplib
import threading

import pytest

from smtp_proto.context import Context
from tests.transports.transport_support import (
    TIMEOUT,
    Gate,
    RawClient,
    Recorder,
    ServerFactory,
    address_of,
    start_in_thread,
)
from transports.capacity import Slots, SlotWaiter, Utilization

GREETING = b"220 localhost ESMTP smtp-proto ready\r\n"
# In place of a greeting or a HELO/EHLO answer: no enhanced code (RFC 2034 4).
BUSY_PLAIN = b"421 Server busy, try again later\r\n"
SHUTTING_DOWN_PLAIN = b"421 Service shutting down, closing transmission channel\r\n"


class Application(Recorder):
    """A handler with the hooks a real application has, each of which takes a slot."""

    def __init__(self) -> None:
        super().__init__()
        self.connects = 0

    def on_connect_event(self, ctx: Context) -> None:
        with self.lock:
            self.connects += 1

    def on_helo_event(self, ctx: Context, helo: str) -> None:
        pass


class HeloGate(Recorder):
    """Holds every EHLO in its hook until the gate opens."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = Gate()

    def on_helo_event(self, ctx: Context, helo: str) -> None:
        self.gate.wait()


class ConnectGate(Recorder):
    """Holds the first connection's greeting in its hook until the gate opens."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = Gate()
        self.first = threading.Event()

    def on_connect_event(self, ctx: Context) -> None:
        if not self.first.is_set():
            self.first.set()
            self.gate.wait()


def send_one(address: tuple[str, int]) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP(*address, timeout=TIMEOUT) as client:
        return client.sendmail("a@example.org", ["b@example.test"], "Subject: hi\r\n\r\nhi\r\n")


@pytest.mark.parametrize("silent", [4, 100])
def test_silent_and_slow_clients_do_not_delay_another_client(
    server_factory: ServerFactory, clients: list[RawClient], silent: int
) -> None:
    handler = Application()
    server = server_factory(handler)  # the default max_processings: 4
    address = address_of(server)
    for number in range(silent):
        client = RawClient(address)
        clients.append(client)
        if number % 2:  # half read the greeting and start a command they never end
            assert client.reply() == GREETING
            client.send(b"EHLO slow.exam")
    assert send_one(address) == {}  # within the client's time-out, not after the idle one
    assert len(handler.messages) == 1
    assert all(client.sock.fileno() >= 0 for client in clients)
    for client in clients[1::2]:  # the slow ones are still being served
        assert client.command(b"ple.test").startswith(b"250")


@pytest.mark.parametrize("limit", [1, 2])
def test_max_processings_bounds_the_hooks_that_run_at_once(
    server_factory: ServerFactory, clients: list[RawClient], limit: int
) -> None:
    handler = HeloGate()
    server = server_factory(handler, max_processings=limit)
    address = address_of(server)
    for _ in range(limit):  # each holds a slot in on_helo_event
        client = RawClient(address)
        clients.append(client)
        assert client.reply() == GREETING
        client.send(b"EHLO busy.example.test\r\n")
        assert handler.gate.reached()
    waiting = RawClient(address)
    clients.append(waiting)
    assert waiting.reply() == GREETING  # no hook of its own runs before the greeting
    waiting.send(b"EHLO late.example.test\r\n")
    assert not handler.gate.reached(0.2)  # its hook waits for a slot
    assert server.processings == limit
    handler.gate.released.set()
    for client in clients:
        assert client.reply().startswith(b"250-localhost")


def test_a_hook_waits_for_a_slot_at_most_processing_wait_then_421(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    handler = HeloGate()
    server = server_factory(handler, max_processings=1, processing_wait=0.3)
    busy = RawClient(address_of(server))
    clients.append(busy)
    assert busy.reply() == GREETING
    busy.send(b"EHLO busy.example.test\r\n")
    assert handler.gate.reached()
    late = RawClient(address_of(server))
    clients.append(late)
    assert late.reply() == GREETING
    assert late.command(b"EHLO late.example.test") == BUSY_PLAIN
    assert late.closed()
    handler.gate.released.set()
    assert busy.reply().startswith(b"250-localhost")
    assert busy.command(b"NOOP") == b"250 2.0.0 OK\r\n"  # the slot came back


def test_a_greeting_that_waits_for_a_slot_too_long_is_421(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    handler = ConnectGate()
    server = server_factory(handler, max_processings=1, processing_wait=0.3)
    first = RawClient(address_of(server))
    clients.append(first)
    assert handler.gate.reached()
    late = RawClient(address_of(server))
    clients.append(late)
    assert late.reply() == BUSY_PLAIN
    assert late.closed()
    handler.gate.released.set()
    assert first.reply() == GREETING


def test_the_disconnect_hook_needs_no_slot(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    handler = HeloGate()
    server = server_factory(handler, max_processings=1, processing_wait=TIMEOUT)
    busy = RawClient(address_of(server))
    clients.append(busy)
    assert busy.reply() == GREETING
    busy.send(b"EHLO busy.example.test\r\n")
    assert handler.gate.reached()
    other = RawClient(address_of(server))
    clients.append(other)
    assert other.reply() == GREETING
    assert other.command(b"QUIT").startswith(b"221")
    assert other.closed()
    for _ in range(100):  # on_disconnect_event ran while the one slot stays taken
        if handler.disconnects:
            break
        threading.Event().wait(0.05)
    assert handler.disconnects == 1
    handler.gate.released.set()
    assert busy.reply().startswith(b"250-localhost")


def test_a_hook_waiting_for_a_slot_gets_421_when_the_server_stops(
    server_factory: ServerFactory, clients: list[RawClient]
) -> None:
    handler = HeloGate()
    server = server_factory(handler, max_processings=1, processing_wait=TIMEOUT)
    busy = RawClient(address_of(server))
    clients.append(busy)
    busy.reply()
    busy.send(b"EHLO busy.example.test\r\n")
    assert handler.gate.reached()
    waiting = RawClient(address_of(server))
    clients.append(waiting)
    assert waiting.reply() == GREETING
    waiting.send(b"EHLO waiting.example.test\r\n")
    assert not handler.gate.reached(0.3)
    stopper = start_in_thread(lambda: server.stop(grace=5.0))
    assert waiting.reply() == SHUTTING_DOWN_PLAIN
    assert waiting.closed()
    handler.gate.released.set()
    assert busy.code() == 250  # the running hook finishes within the grace
    assert busy.reply() == b"421 4.3.2 Service shutting down, closing transmission channel\r\n"
    stopper.join()


# The slot queue itself, without sockets ------------------------------------------------------


def waiter() -> SlotWaiter:
    return SlotWaiter(threading.Event())


def test_slots_are_given_in_request_order_and_a_waiter_that_gives_up_leaves_the_queue() -> None:
    counts = Utilization(max_connections=None, max_processings=1)
    slots = Slots(counts, wait=1.0)
    assert slots.enter(waiter) is None  # a free slot: taken at once
    queued = [slots.enter(waiter) for _ in range(3)]
    first, second, third = (item for item in queued if item is not None)
    assert not slots.settle(second)  # gave up waiting: out of the queue
    slots.leave()
    assert first.turn.is_set()
    assert slots.settle(first)
    assert not third.turn.is_set()
    slots.leave()
    assert third.turn.is_set()
    assert slots.settle(third)
    assert counts.processings == 1
    slots.leave()
    assert counts.processings == 0


def one_taken_one_queued() -> tuple[Utilization, Slots, SlotWaiter]:
    """A single slot, taken, and a waiter queued for it."""
    counts = Utilization(max_connections=None, max_processings=1)
    slots = Slots(counts, wait=1.0)
    assert slots.enter(waiter) is None
    queued = slots.enter(waiter)
    assert queued is not None
    return counts, slots, queued


def test_a_slot_given_just_as_the_wait_ends_is_kept() -> None:
    counts, slots, late = one_taken_one_queued()
    slots.leave()  # handed over before the waiter settles
    assert slots.settle(late)  # so it runs its hook, and then gives the slot back
    slots.leave()
    assert counts.processings == 0


def test_closed_slots_queue_no_one_but_free_ones_are_still_taken() -> None:
    counts, slots, queued = one_taken_one_queued()
    slots.close()
    assert queued.turn.is_set()
    assert not slots.settle(queued)
    refused = slots.enter(waiter)
    assert refused is not None
    assert refused.turn.is_set()
    assert not slots.settle(refused)
    slots.leave()
    assert slots.enter(waiter) is None  # a stopping server still runs hooks with a free slot
    slots.leave()
    assert counts.processings == 0
