"""Fixtures for the transport tests: every test runs once per engine and leaks nothing.

Every engine of `transports.engines` runs the whole suite; a non-blocking
`start()`/`stop()` pair is all `server_factory` needs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from smtp_proto.handler import Handler
from tests.transports.transport_support import RawClient, ServerFactory, engine_class
from transports import engines
from transports.base import ServerBase

# Every engine, and the asyncio one a second time on uvloop.
ENGINES = [*engines.ENGINES, "uvloop"]


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a thread running (servers must be stopped and joined)."""
    before = set(threading.enumerate())
    yield
    leaked = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    assert leaked == []


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The name of the engine under test."""
    name: str = request.param
    return name


@pytest.fixture
def server_factory(engine: str) -> Iterator[ServerFactory]:
    """Start servers of the engine under test (port 0 on 127.0.0.1 by default)."""
    servers: list[ServerBase] = []

    def make(handler: Handler, **options: Any) -> ServerBase:
        options.setdefault("ports", "0")
        server = engine_class(engine)(handler, **options)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop(grace=1.0)


@pytest.fixture
def clients() -> Iterator[list[RawClient]]:
    """A list to put raw clients in; each is closed after the test."""
    opened: list[RawClient] = []
    yield opened
    for client in opened:
        client.close()
