"""A throw-away Postfix on 127.0.0.1 with its own config, queue and Maildir, to grade it.

Never touches /etc/postfix or the system instance: every path is under the directory given,
and master.cf names only the loopback port chosen here (never port 25).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

POSTFIX = Path("/usr/sbin/postfix")
POSTCONF = Path("/usr/sbin/postconf")
DOMAIN = "example.test"
# Postfix's strict settings; the bare-newline switch spares $mynetworks by default, and the
# suite connects from 127.0.0.1, inside mynetworks, so the exemption is emptied.
STRICT = {
    "smtpd_forbid_bare_newline": "yes",
    "smtpd_forbid_bare_newline_exclusions": "",
    "strict_rfc821_envelopes": "yes",
}

# The services a receiving Postfix needs; no chroot, so nothing outside `root` is used.
_MASTER = """\
{address} inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
proxymap unix - - n - - proxymap
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


def available() -> str | None:
    """Why Postfix cannot run here, or None when it can."""
    if not POSTFIX.exists():
        return "postfix is not installed"
    if os.geteuid() != 0:
        return "postfix's master must start as root"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "no postfix user"
    return None


def version() -> str:
    """The installed Postfix version, e.g. "3.7.11"."""
    out = subprocess.run(  # noqa: S603 (fixed argv)
        [str(POSTCONF), "-d", "-h", "mail_version"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def free_port() -> int:
    """A loopback port the OS picked; Postfix binds its listeners itself."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main_cf(root: Path, *, strict: bool, tls: tuple[Path, Path] | None) -> dict[str, str]:
    """The settings of one instance under `root`: every message for example.test goes to
    one Maildir, root/mail/maildir/."""
    owner = pwd.getpwnam("postfix")
    settings = {
        "compatibility_level": "3.6",
        "queue_directory": str(root / "queue"),
        "data_directory": str(root / "data"),
        "maillog_file": str(root / "postfix.log"),
        "maillog_file_prefixes": str(root),
        "mail_owner": "postfix",
        "myhostname": f"postfix.{DOMAIN}",
        "mydomain": DOMAIN,
        "mydestination": "",
        "inet_interfaces": "127.0.0.1",
        "inet_protocols": "ipv4",
        "mynetworks": "127.0.0.0/8",
        "alias_maps": "",
        "alias_database": "",
        "virtual_mailbox_domains": DOMAIN,
        "virtual_mailbox_base": str(root / "mail"),
        "virtual_mailbox_maps": "static:maildir/",
        "virtual_uid_maps": f"static:{owner.pw_uid}",
        "virtual_gid_maps": f"static:{owner.pw_gid}",
        "biff": "no",
        "notify_classes": "",  # no reports to a postmaster nobody reads
    }
    if tls is not None:
        cert, key = tls
        settings |= {
            "smtpd_tls_security_level": "may",
            "smtpd_tls_cert_file": str(cert),
            "smtpd_tls_key_file": str(key),
        }
    if strict:
        settings |= STRICT
    return settings


@dataclass(frozen=True, slots=True)
class Postfix:
    """A running instance: where it listens and where it delivers."""

    port: int
    maildir: Path
    config: Path


def _write_config(root: Path, port: int, settings: dict[str, str], services: str) -> Path:
    config = root / "etc"
    config.mkdir(parents=True)
    lines = [f"{name} = {value}" for name, value in settings.items()]
    (config / "main.cf").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (config / "master.cf").write_text(_MASTER.format(address=f"127.0.0.1:{port}") + services)
    (root / "queue").mkdir()  # root's; postfix start makes the owned parts inside
    owner = pwd.getpwnam("postfix")
    # The Maildir too, before the first delivery makes it: the suite looks at it from its
    # first check that stores a message, which may come before any delivery.
    for sub in (
        "data",
        "mail",
        "mail/maildir",
        *(f"mail/maildir/{d}" for d in ("cur", "new", "tmp")),
    ):
        (root / sub).mkdir()
        os.chown(root / sub, owner.pw_uid, owner.pw_gid)
    return config


def _postfix(config: Path, command: str) -> None:
    subprocess.run(  # noqa: S603 (fixed argv)
        [str(POSTFIX), "-c", str(config), command], check=True, capture_output=True
    )


def wait_listening(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
                sock.recv(100)  # the greeting: smtpd is up, not only master's socket
                sock.sendall(b"QUIT\r\n")
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # master binds the port after forking; nothing to wait on


def _master_pid(root: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int((root / "queue" / "pid" / "master.pid").read_text().split()[0])
    return None


def _stop(config: Path, root: Path, timeout: float = 20.0) -> None:
    pid = _master_pid(root)
    with contextlib.suppress(subprocess.CalledProcessError):
        _postfix(config, "stop")
    if pid is None:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)  # postfix stop signals master and returns before it exits
    with contextlib.suppress(subprocess.CalledProcessError):
        _postfix(config, "abort")


@contextlib.contextmanager
def running_postfix(
    *,
    strict: bool = False,
    tls: tuple[Path, Path] | None = None,
    settings: dict[str, str] | None = None,
    services: str = "",
) -> Iterator[Postfix]:
    """Start Postfix in a fresh directory under /tmp, yield it, then stop it and remove the
    directory. `strict` turns on the bare-newline and RFC 821 envelope switches; `settings`
    are main.cf lines over the receiving instance's, `services` master.cf lines added."""
    # Postfix's daemons run as the postfix user: every parent must let it through, which a
    # pytest tmp_path (mode 0700) does not.
    root = Path(tempfile.mkdtemp(prefix="smtp-proto-postfix-"))
    root.chmod(0o755)
    try:
        port = free_port()
        config = _write_config(
            root, port, main_cf(root, strict=strict, tls=tls) | (settings or {}), services
        )
        try:
            _postfix(config, "start")
            wait_listening(port, 20.0)
            yield Postfix(port, root / "mail" / "maildir", config)
        finally:
            _stop(config, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
