"""Reading DATA message text: dot-unstuffing, CRLF modes, the text-line and size limits,
and the one end marker, <CRLF>.<CRLF>.

Works on whole slices of the input buffer with C-level searches, never a Python loop per
line. Only a dot that follows CRLF can end the message or be unstuffed, so bare LF or CR
before a dot never ends it (SMTP smuggling).
"""

from __future__ import annotations

import re
from typing import Final

from smtp_proto import replies
from smtp_proto.config import CrlfMode
from smtp_proto.replies import Reply

_DOT_LINE: Final = re.compile(rb"\r\n\.")  # a dot at the start of a CRLF line
_BARE_LF: Final = re.compile(rb"\n(?<!\r\n)")
_BARE_CR: Final = re.compile(rb"\r(?!\n)")
_BLANK_LINE: Final = re.compile(rb"\n\r?\n")  # the end of a line followed by an empty line
_END: Final = b"\r\n.\r\n"


def find_header_end(buf: bytearray, start: int, stop: int, *, after_newline: bool) -> int:
    """Where the header block ends in buf[start:stop]: the index just past the last header
    line's LF (the blank line starts there), or -1. `after_newline`: start is a line start."""
    if after_newline and start < stop:
        first = buf[start]
        # Never past `stop`: what follows a BDAT chunk is the next command, not content.
        if first == 0x0A or (first == 0x0D and buf[start + 1 : min(start + 2, stop)] == b"\n"):
            return start
    m = _BLANK_LINE.search(buf, start, stop)
    return -1 if m is None else m.start() + 1


class MessageReader:
    """Common state of a message being received (DATA or BDAT): size, headers, failure."""

    __slots__ = (
        "after_newline",
        "failure",
        "found",
        "header_block",
        "header_end",
        "headers",
        "headers_done",
        "max_size",
        "size",
    )

    def __init__(self, max_size: int, header_block: int) -> None:
        self.max_size = max_size
        self.header_block = header_block  # octets of the header block kept for HeadersComplete
        self.size = 0  # octets handed out so far
        self.failure: Reply | None = None  # set: the rest is drained, this reply follows
        self.found: Reply | None = None  # a refusal that takes effect at the next step
        self.headers = bytearray()
        self.headers_done = False
        self.header_end = False  # the header block just ended: emit HeadersComplete now
        self.after_newline = True  # the next octet starts a line (for the header search)

    def fail(self, reply: Reply) -> None:
        """Refuse the message: keep draining, answer `reply` at its end. A header block
        the refusal cuts never completes, however the input was split."""
        if self.failure is None:
            self.failure = reply
        self.header_end = False

    def refuse(self, reply: Reply, *, handed_out: bool) -> None:
        """The reader refuses the message. When content goes out in the same step, the
        refusal waits for the next one: an application refusing that content answers first,
        as it would have had the content come in smaller reads."""
        if not handed_out:
            self.fail(reply)
        elif self.failure is None and self.found is None:
            self.found = reply
            self.header_end = False

    def settle(self) -> Reply | None:
        """Let a refusal found in the last step take effect; the message's failure, if any."""
        if self.found is not None:
            self.fail(self.found)
            self.found = None
        return self.failure

    def deliver(self, piece: bytes) -> bytes:
        """Account for content about to be handed out: what fits the size limit (the
        octets past it are dropped and the message refused); b"" once the message failed."""
        if self.failure is not None or self.found is not None:
            return b""
        size = self.size + len(piece)
        if size > self.max_size:
            # The same octets whatever the reads: a split into smaller ones hands out the
            # pieces before the limit in full.
            piece = piece[: self.max_size - self.size]
            self.size = size
            self.refuse(replies.MESSAGE_TOO_BIG, handed_out=bool(piece))
            return piece
        self.size = size
        if not self.headers_done:
            room = self.header_block - len(self.headers)
            if room > 0:
                # A longer header block is kept only up to the limit: a message without a
                # blank line would otherwise be held twice, here and by the application.
                self.headers += piece if len(piece) <= room else piece[:room]
        return piece

    def split_headers(self, buf: bytearray, start: int, stop: int) -> int:
        """Cut point for content in buf[start:stop]: `stop`, or the header block's end."""
        if self.headers_done or self.header_end or start >= stop:
            return stop
        h = find_header_end(buf, start, stop, after_newline=self.after_newline)
        self.after_newline = buf[stop - 1] == 0x0A
        if h < 0:
            return stop
        self.header_end = True
        return h

    def take_headers(self) -> bytes:
        """The header block, once; later content is no longer collected as headers."""
        headers = bytes(self.headers)
        self.headers = bytearray()
        self.headers_done = True
        self.header_end = False
        return headers


class DataReader(MessageReader):
    """Streams one DATA message out of the connection's input buffer."""

    __slots__ = ("_bol", "_line", "done", "mode")

    def __init__(self, mode: CrlfMode, text_line: int, max_size: int, header_block: int) -> None:
        super().__init__(max_size, header_block)
        self.mode = mode
        self._line = text_line
        self._bol = True  # at the start of a line that follows CRLF (or of the message)
        self.done = False  # the end marker passed

    def read(self, buf: bytearray, pos: int) -> tuple[bytes, int]:
        """Consume complete lines from buf[pos:]; return (content, new position)."""
        if self.settle() is not None:
            return b"", self._drain(buf, pos)
        end = buf.rfind(b"\n", pos) + 1
        if end == 0:
            return b"", self._partial(buf, pos)
        pieces: list[bytes] = []
        start = pos
        with memoryview(buf) as view:
            while start < end and not self.header_end:
                if self._bol and buf[start] == 0x2E:
                    dot = start
                else:
                    m = _DOT_LINE.search(buf, start, end)
                    dot = -1 if m is None else m.start() + 2
                cut = self.split_headers(buf, start, end if dot < 0 else dot)
                if cut > start:
                    if (bad := self._check(buf, start, cut)) is not None:
                        return self._refuse_from(buf, pieces, start, *bad)
                    pieces.append(self._normal(bytes(view[start:cut])))
                    self._bol = buf[cut - 2 : cut] == b"\r\n"
                if cut != dot:
                    start = cut
                    continue
                if buf[dot + 1 : dot + 3] == b"\r\n":
                    self.done = True
                    start = dot + 3
                    break
                start = dot + 1  # RFC 5321 4.5.2: a leading dot is removed
                self._bol = self.after_newline = False
        content = b"".join(pieces) if len(pieces) != 1 else pieces[0]
        return self.deliver(content) if content else b"", start

    def _normal(self, piece: bytes) -> bytes:
        if self.mode is CrlfMode.ENSURE and _BARE_LF.search(piece):
            return _BARE_LF.sub(b"\r\n", piece)
        return piece

    def _check(self, buf: bytearray, start: int, stop: int) -> tuple[int, Reply] | None:
        """The first line in buf[start:stop] (which ends with LF) that breaks a limit: where
        it starts and why, or None. Within one line its length counts before STRICT's bare
        CR or LF, as a reader going line by line finds them."""
        limit = self._line
        p, long_line = start, -1
        while stop - p > limit:
            q = buf.rfind(b"\n", p, p + limit)
            if q < 0:
                long_line = p
                break
            p = q + 1
        if self.mode is CrlfMode.STRICT:
            end = stop if long_line < 0 else long_line
            bare = [_BARE_LF.search(buf, start, end), _BARE_CR.search(buf, start, end)]
            if found := [m.start() for m in bare if m is not None]:
                line = buf.rfind(b"\n", start, min(found)) + 1 or start
                return line, replies.BARE_LINE_ENDING
        return None if long_line < 0 else (long_line, replies.TEXT_LINE_TOO_LONG)

    def _refuse_from(
        self, buf: bytearray, pieces: list[bytes], start: int, bad: int, reason: Reply
    ) -> tuple[bytes, int]:
        """Hand out the lines before the bad one at `bad` (they may pass the size limit
        first), then refuse the message for `reason` and drain from the bad line on (at the
        next step when content went out)."""
        if bad > start:
            pieces.append(self._normal(bytes(buf[start:bad])))
            self._bol = buf[bad - 2 : bad] == b"\r\n"
        content = self.deliver(b"".join(pieces)) if pieces else b""
        self.refuse(reason, handed_out=bool(content))
        return content, bad if content else self._drain(buf, bad)

    def _partial(self, buf: bytearray, pos: int) -> int:
        """No LF after pos: wait, unless the line can no longer fit the limit."""
        allowed = self._line + (1 if self._bol and buf[pos : pos + 1] == b"." else 0)
        if len(buf) - pos < allowed:
            return pos
        if self._bol and len(buf) - pos < 3 and b".\r\n".startswith(buf[pos:]):
            return pos  # may still be the end marker, whatever the limit
        self.fail(replies.TEXT_LINE_TOO_LONG)
        self._bol = False
        return len(buf) - 1  # the last octet may be the CR of the next CRLF

    def _drain(self, buf: bytearray, pos: int) -> int:
        """Discard content up to and including the end marker."""
        if self._bol and buf[pos : pos + 3] == b".\r\n":
            self.done = True
            return pos + 3
        i = buf.find(_END, pos)
        if i >= 0:
            self.done = True
            return i + len(_END)
        keep = max(pos, len(buf) - (len(_END) - 1))
        if keep > pos:
            self._bol = False  # the kept octets carry the CRLF the marker needs
        return keep
