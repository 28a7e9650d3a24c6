"""CHUNKING (RFC 3030): the BDAT command's arguments and the reading of chunk octets.

Chunks are binary: no dot-unstuffing, no line-ending changes, no line limits.
"""

from __future__ import annotations

import re
from typing import Final

from smtp_proto.data import MessageReader

_BDAT: Final = re.compile(r"([0-9]{1,20})(?: +(LAST))? *", re.IGNORECASE)


def parse_bdat(argument: str) -> tuple[int, bool] | None:
    """`BDAT` arguments as (chunk size, last), or None when malformed (RFC 3030 2)."""
    m = _BDAT.fullmatch(argument)
    if m is None:
        return None
    return int(m.group(1)), m.group(2) is not None


class ChunkReader(MessageReader):
    """Reads the octets of BDAT chunks of one message, streaming them out."""

    __slots__ = ("remaining",)

    def __init__(self, max_size: int) -> None:
        super().__init__(max_size)
        self.remaining = 0  # octets of the current chunk still to come

    def start_chunk(self, size: int) -> None:
        """The next `size` octets belong to the message."""
        self.remaining = size

    def read(self, buf: bytearray, pos: int) -> tuple[bytes, int]:
        """Consume up to the rest of the chunk from buf[pos:]; return (content, new position)."""
        stop = min(len(buf), pos + self.remaining)
        if self.failure is not None:
            self.remaining -= stop - pos
            return b"", stop
        if not self.headers_done and stop < pos + self.remaining and buf[stop - 1] == 0x0D:
            stop -= 1  # a read ending in CR: the LF of a blank line may follow in the next
        cut = self.split_headers(buf, pos, stop)
        self.remaining -= cut - pos
        with memoryview(buf) as view:
            piece = bytes(view[pos:cut])
        return self.deliver(piece) if piece else b"", cut
