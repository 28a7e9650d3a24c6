"""The I/O floor: a gevent server that answers smtp-source with as little work as can be.

Not SMTP (it checks nothing and keeps nothing): it answers each line with 250, DATA with
354 and the end of data with 250, so what it costs per message is the sockets, the hub's
switches and a few searches. Beside our engines in `bench.transport --engines floor,...`
it shows how much of their time is the protocol and the engine, and how much the I/O.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class _Exchange:
    """One connection's lock-step dialogue: bytes in, the replies due out."""

    def __init__(self) -> None:
        self.pending = b""
        self.in_data = False
        self.done = False

    def feed(self, data: bytes) -> bytes:
        buf = self.pending + data
        out: list[bytes] = []
        while True:
            if self.in_data:
                end = buf.find(b"\r\n.\r\n")
                if end < 0:
                    self.pending = buf[-4:]
                    return b"".join(out)
                buf, self.in_data = buf[end + 5 :], False
                out.append(b"250 2.0.0 OK\r\n")
                continue
            end = buf.find(b"\r\n")
            if end < 0:
                self.pending = buf
                return b"".join(out)
            line, buf = buf[:end].upper(), buf[end + 2 :]
            if line.startswith(b"DATA"):
                self.in_data = True
                buf = b"\r\n" + buf  # the end marker may follow at once
                out.append(b"354 go on\r\n")
            elif line.startswith(b"QUIT"):
                self.done = True
                out.append(b"221 bye\r\n")
            else:
                out.append(b"250 OK\r\n")


def _serve_connection(sock: Any, address: object) -> None:
    exchange = _Exchange()
    sock.sendall(b"220 floor\r\n")
    while not exchange.done:
        data = sock.recv(65536)
        if not data:
            break
        reply = exchange.feed(data)
        if reply:
            sock.sendall(reply)
    sock.close()


def serve(announce: Callable[[int], None], wait: Callable[[], None]) -> None:
    """Serve on 127.0.0.1, port 0, in a hub thread until `wait()` returns."""
    import gevent  # the bench extra; imported only when the floor runs
    from gevent.server import StreamServer

    ready = threading.Event()
    port: list[int] = []
    stop = threading.Event()

    def hub() -> None:
        server = StreamServer(("127.0.0.1", 0), _serve_connection)
        server.start()
        port.append(server.server_port)
        ready.set()
        while not stop.is_set():
            gevent.sleep(0.05)
        server.stop(timeout=0)

    thread = threading.Thread(target=hub, daemon=True)
    thread.start()
    ready.wait()
    announce(port[0])
    try:
        wait()
    finally:
        stop.set()
        thread.join()
