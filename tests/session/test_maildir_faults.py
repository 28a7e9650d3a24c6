"""MaildirHandler when the file system fails: a full disk, a quota, an unwritable folder.

Each failure answers 451 or 452 4.3.x through a real ServerConnection, never 250, and leaves
no file in new/ nor a partial one in tmp/; the next message after the fault is stored.
The faults are made by wrapping the `os` calls the handler makes on the Maildir's own paths
and descriptors (a full file system cannot be made here without root).
"""

from __future__ import annotations

import errno
import mailbox
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smtp_proto.context import Context
from smtp_proto.handlers import MaildirHandler
from tests.session.session_support import lines, make_session, pump

ENVELOPE = b"EHLO c.example\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
MESSAGE = b"Subject: fault\r\nFrom: a@b.test\r\n\r\n" + b"body line\r\n" * 2000
ACCEPTED = b"250 2.6.0 Message accepted\r\n"
NO_SPACE = b"452 4.3.1 Requested action not taken: insufficient system storage\r\n"
LOCAL_ERROR = b"451 4.3.0 Requested action aborted: local error in processing\r\n"


def deliver(handler: MaildirHandler, message: bytes = MESSAGE) -> bytes:
    """One message through a whole session; the reply to its end of data."""
    out = pump(make_session(handler), ENVELOPE + b"DATA\r\n" + message + b".\r\n")
    return lines(out)[-1]


def files(maildir: Path) -> dict[str, list[str]]:
    return {sub: sorted(p.name for p in (maildir / sub).iterdir()) for sub in ("new", "tmp")}


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class Faults:
    """Wraps os.open/write/fsync/link: `fail[name]` raises on the Maildir's files.

    Only paths under `root` and descriptors opened on them fail; a write fails after
    writing half of what it was given, as a disk that fills up mid-message does.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
        self.root = str(root)
        self.fail: dict[str, int] = {}
        self.fds: set[int] = set()
        self.calls: set[str] = set()
        real = {name: getattr(os, name) for name in ("open", "write", "fsync", "link")}
        self.real = real

        def wrap(name: str, ours: Callable[..., bool]) -> Callable[..., Any]:
            def call(*args: Any, **kwargs: Any) -> Any:
                if not ours(*args):
                    return real[name](*args, **kwargs)
                self.calls.add(name)
                code = self.fail.get(name)
                if code is None:
                    result = real[name](*args, **kwargs)
                    if name == "open":
                        self.fds.add(result)
                    return result
                if name == "write":
                    real["write"](args[0], bytes(args[1])[: len(args[1]) // 2])
                raise OSError(code, os.strerror(code))

            return call

        def path(p: str | os.PathLike[str], *rest: Any) -> bool:
            return os.fspath(p).startswith(self.root)

        def fd(f: int, *rest: Any) -> bool:
            return f in self.fds

        checks: dict[str, Callable[..., bool]] = {
            "open": path,
            "write": fd,
            "fsync": fd,
            "link": path,
        }
        for name, ours in checks.items():
            monkeypatch.setattr(os, name, wrap(name, ours))


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    return tmp_path / "md"


@pytest.mark.parametrize("step", ["open", "write", "fsync", "link"])
@pytest.mark.parametrize(
    ("code", "reply"),
    [(errno.ENOSPC, NO_SPACE), (errno.EDQUOT, NO_SPACE), (errno.EIO, LOCAL_ERROR)],
    ids=["ENOSPC", "EDQUOT", "EIO"],
)
def test_a_failing_disk_never_gets_250_and_leaves_no_file(
    monkeypatch: pytest.MonkeyPatch, maildir: Path, step: str, code: int, reply: bytes
) -> None:
    handler = MaildirHandler(maildir)
    faults = Faults(monkeypatch, maildir)
    before = open_fds()
    faults.fail[step] = code
    assert deliver(handler) == reply
    assert step in faults.calls  # the fault was on the handler's path
    assert files(maildir) == {"new": [], "tmp": []}
    assert open_fds() == before
    del faults.fail[step]  # space again: the next message is stored whole
    assert deliver(handler) == ACCEPTED
    [stored] = mailbox.Maildir(maildir, create=False)
    assert stored.get_payload() == "body line\n" * 2000
    assert files(maildir)["tmp"] == []


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS])
def test_an_unwritable_maildir_gets_451_until_it_is_writable_again(
    monkeypatch: pytest.MonkeyPatch, maildir: Path, code: int
) -> None:
    handler = MaildirHandler(maildir)
    faults = Faults(monkeypatch, maildir)
    faults.fail["open"] = code
    for _ in range(3):
        assert deliver(handler) == LOCAL_ERROR
    assert files(maildir) == {"new": [], "tmp": []}
    faults.fail.clear()
    assert deliver(handler) == ACCEPTED
    assert len(files(maildir)["new"]) == 1


def writes_through_permissions(folder: Path) -> bool:
    """Whether this process may create files in a folder it cannot write (root can)."""
    locked = folder / "locked"
    locked.mkdir(mode=0o500)
    try:
        (locked / "probe").touch()
    except PermissionError:
        return False
    finally:
        locked.chmod(0o700)
    return True


def test_a_maildir_without_write_permission_gets_451_then_recovers(
    tmp_path: Path, maildir: Path
) -> None:
    if writes_through_permissions(tmp_path):
        pytest.skip("this process writes through file permissions (root)")
    handler = MaildirHandler(maildir)
    for sub in ("tmp", "new"):
        (maildir / sub).chmod(0o500)
    try:
        assert deliver(handler) == LOCAL_ERROR
        assert files(maildir) == {"new": [], "tmp": []}
    finally:
        for sub in ("tmp", "new"):
            (maildir / sub).chmod(0o700)
    assert deliver(handler) == ACCEPTED
    assert len(files(maildir)["new"]) == 1


class Measured(MaildirHandler):
    """Records the memory its store() takes beyond what was allocated before it."""

    peak = 0

    def on_message_data_event(self, ctx: Context) -> None:
        tracemalloc.start()
        try:
            self.store(ctx)
            self.peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def test_a_large_message_is_stored_without_a_whole_copy_of_it(maildir: Path) -> None:
    handler = Measured(maildir)
    line = b"x" * 998 + b"\r\n"
    message = b"Subject: big\r\n\r\n" + line * 8000  # 8 MB
    assert deliver(handler, message) == ACCEPTED
    [stored] = mailbox.Maildir(maildir, create=False)
    assert stored.get_payload() == (line.replace(b"\r\n", b"\n") * 8000).decode()
    assert handler.peak < 4 * 1024 * 1024  # slices of it, never the whole message again
