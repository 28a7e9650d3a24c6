"""What the anyio engine's sessions are accepted into: a stream over the connection's own
socket, one kind per backend (`aio_stream` for asyncio, `trio_stream` for trio)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from anyio.abc import SocketStream


class LeanStream(SocketStream):
    """An accepted connection's stream: its socket, its addresses, and a close that never
    waits. STARTTLS later wraps it in anyio's TLS stream."""

    @property
    @abstractmethod
    def raw(self) -> Any:
        """The connection's socket."""

    @abstractmethod
    def addresses(self, local: Any = None) -> tuple[Any, Any]:
        """(local, remote) socket addresses; `local` when the caller knows it already."""

    @abstractmethod
    def close(self) -> None:
        """Close now; `aclose()` without the await."""

    async def aclose(self) -> None:
        """Close; nothing to wait for."""
        self.close()
