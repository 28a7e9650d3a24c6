"""CHUNKING (RFC 3030): the BDAT command's arguments and the reading of chunk octets.

Chunks are binary: no dot-unstuffing, no line-ending changes, no line limits.
"""

from __future__ import annotations

import re
from typing import Final

from smtp_proto import replies
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

    __slots__ = ("carry", "last", "remaining")

    def __init__(self, max_size: int, header_block: int) -> None:
        super().__init__(max_size, header_block)
        self.remaining = 0  # octets of the current chunk still to come
        self.last = False  # the current chunk is the message's last
        # A CR that ended a chunk inside the header block, not handed out yet: it may start
        # the blank line, and the header block must be complete before the blank line goes.
        self.carry = b""

    @property
    def complete(self) -> bool:
        """Whether the current chunk has been read (and, for the last, all of it handed out)."""
        return self.remaining == 0 and not (self.carry and self.last)

    def start_chunk(self, size: int, *, last: bool) -> None:
        """The next `size` octets belong to the message; `last`: they end it."""
        self.remaining = size
        self.last = last
        if self.failure is None and self.found is None and self.size + size > self.max_size:
            # Known too big from the command alone: refuse before any octet, so a
            # `BDAT 1000000000` is drained without the application keeping what fits.
            self.size += size
            self.fail(replies.MESSAGE_TOO_BIG)

    def read(self, buf: bytearray, pos: int) -> tuple[bytes, int]:
        """Consume up to the rest of the chunk from buf[pos:]; return (content, new position)."""
        stop = min(len(buf), pos + self.remaining)
        if self.settle() is not None:
            self.remaining -= stop - pos
            self.carry = b""
            return b"", stop
        carry = self.carry
        if carry:
            if stop == pos and (self.remaining or not self.last):
                return b"", pos  # the octet after the CR has not come: it may be its LF
            if self.after_newline and not self.headers_done and stop > pos and buf[pos] == 0x0A:
                self.header_end = True  # the carried CR starts the blank line
                return b"", pos
            self.carry = b""
            self.after_newline = False
        hold = False  # a CR ends this chunk inside the header block: carry it over
        if not self.headers_done and stop > pos and buf[stop - 1] == 0x0D:
            # The LF of a blank line may follow in the next read, or in the next chunk.
            chunk_end = stop == pos + self.remaining
            hold = chunk_end and not self.last
            if not (chunk_end and self.last):
                stop -= 1
        cut = self.split_headers(buf, pos, stop)
        self.remaining -= cut - pos
        if self.failure is None and self.size + len(carry) + cut - pos > self.max_size:
            # Too big: hand out what fits, as a split into smaller reads would, then
            # refuse the rest without copying it.
            room = self.max_size - self.size
            with memoryview(buf) as view:
                piece = carry[:room] + bytes(view[pos : pos + max(0, room - len(carry))])
            content = self.deliver(piece) if piece else b""
            self.size += len(carry) + cut - pos - len(piece)
            self.refuse(replies.MESSAGE_TOO_BIG, handed_out=bool(content))
            if hold and cut == stop:
                self.remaining -= 1
                cut += 1
            return content, cut
        with memoryview(buf) as view:
            piece = carry + view[pos:cut] if carry else bytes(view[pos:cut])
        if hold and cut == stop:
            self.carry = b"\r"
            self.remaining -= 1
            cut += 1
        return self.deliver(piece) if piece else b"", cut
