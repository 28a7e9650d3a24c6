"""A yardstick for the anyio engine: the same `Session` served in anyio's own idiom.

anyio's TCP listener and streams, a task per connection, `fail_after` for the time-outs,
plain hooks through `anyio.to_thread.run_sync` under a `CapacityLimiter`, `@nonblocking`
ones in place and `async def` ones awaited. No TLS, no stop grace, no connection limit:
only what a benchmark session needs, to show what the anyio engine's own streams and
read callbacks (`transports/aio_stream.py`, `trio_stream.py`, `aio_session.py`) gain.

Run through `bench.transport --engines anyio-plain,anyio-plain-trio,asyncio,trio`.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable

import anyio
from anyio.abc import SocketAttribute, SocketStream

from smtp_proto.config import ServerConfig
from smtp_proto.context import Peer
from smtp_proto.handler import Handler
from smtp_proto.session import Finish, RunHook, Session, StartTls

READ = 65536
TIMEOUT = 300.0


async def serve(
    announce: Callable[[int], None],
    wait_for_eof: Callable[[], None],
    handler: Handler,
    processings: int,
) -> None:
    """Serve on 127.0.0.1 (a port the OS picks) until `wait_for_eof` returns."""
    limiter = anyio.CapacityLimiter(processings)
    config = ServerConfig()
    ids = itertools.count(1)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    announce(listener.extra(SocketAttribute.local_port))  # noqa: S610 (anyio, not Django)

    async def handle(stream: SocketStream) -> None:
        async with stream:
            local = stream.extra(SocketAttribute.local_address)  # noqa: S610 (anyio's)
            remote = stream.extra(SocketAttribute.remote_address)  # noqa: S610
            host, port = str(local[0]), int(local[1])
            client, client_port = str(remote[0]), int(remote[1])
            peer = Peer(host, port, host, client, client_port, client)
            session = Session(
                handler,
                config,
                peer=peer,
                session_id=str(next(ids)),
                clock=time.monotonic,
                cmd_timeout=TIMEOUT,
                data_timeout=TIMEOUT,
            )
            await drive(session, stream, limiter)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, handle)
        await anyio.to_thread.run_sync(wait_for_eof)
        tasks.cancel_scope.cancel()


async def drive(session: Session, stream: SocketStream, limiter: anyio.CapacityLimiter) -> None:
    """Run one session's steps on `stream` to its end."""
    while True:
        step = session.next_step()
        if isinstance(step, RunHook):
            call = step.call
            if call.is_async:
                outcome = await call.run_async()
            elif not call.blocks:
                outcome = call.run()
            else:
                outcome = await anyio.to_thread.run_sync(call.run, limiter=limiter)
            session.hook_done(outcome)
            continue
        if isinstance(step, StartTls):
            raise RuntimeError("no TLS in this yardstick")
        if step.out:
            await stream.send(step.out)
        if isinstance(step, Finish):
            return
        try:
            with anyio.fail_after(session.timeout()):
                data = await stream.receive(READ)
        except TimeoutError:
            session.timed_out()
            continue
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            data = b""
        session.feed(data)


def run(
    backend: str,
    announce: Callable[[int], None],
    wait_for_eof: Callable[[], None],
    handler: Handler,
    processings: int,
) -> None:
    """`serve` on `backend` ("asyncio" or "trio")."""
    main = functools.partial(serve, announce, wait_for_eof, handler, processings)
    anyio.run(main, backend=backend)
