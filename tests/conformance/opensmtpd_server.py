"""A throw-away OpenSMTPD on 127.0.0.1 with its own config, queue and Maildir, to grade it.

OpenSMTPD's queue (/var/spool/smtpd), control socket (/run/smtpd.sock) and helpers
(/usr/libexec/opensmtpd) are fixed at build time, so it runs in private mount and PID
namespaces (`unshare`) where scratch directories are mounted over those paths: the system,
and a system OpenSMTPD if there is one, are never touched, and stopping it ends every
process it started. It conflicts with Postfix as a package, so where the package is not
installed, a tree unpacked with `apt-get download opensmtpd` and `dpkg -x` is used:
$SMTP_PROTO_OPENSMTPD, or build/opensmtpd in the checkout (what .ci/run makes). Needs root
and the package's two users, opensmtpd and opensmtpq.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conformance.postfix_server import free_port, wait_listening

UNPACKED = Path(__file__).resolve().parents[2] / "build" / "opensmtpd"
USER, PASSWORD = "alice", "s3cret"
_HELPERS = Path("usr/libexec/opensmtpd")
UNSHARE = "/usr/bin/unshare"


def root() -> Path:
    """Where the smtpd binary and its helpers are: the installed package, or an unpacked tree."""
    given = os.environ.get("SMTP_PROTO_OPENSMTPD")
    if given:
        return Path(given)
    return Path("/") if (Path("/") / _HELPERS).is_dir() else UNPACKED


def available() -> str | None:
    """Why OpenSMTPD cannot run here, or None when it can."""
    if not (root() / "usr/sbin/smtpd").exists():
        return f"opensmtpd is neither installed nor unpacked in {root()}"
    if os.geteuid() != 0:
        return "smtpd must start as root"
    if not Path(UNSHARE).exists():
        return "no unshare (util-linux) to give smtpd its own mount namespace"
    for name in ("opensmtpd", "opensmtpq"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            return f"no {name} user (made by the package, or by .ci/run)"
    return None


def version() -> str:
    """The OpenSMTPD version, e.g. "6.8.0p2"."""
    out = subprocess.run(  # noqa: S603 (fixed argv)
        [str(root() / "usr/sbin/smtpd"), "-h"], capture_output=True, text=True, check=False
    )
    words = (out.stdout + out.stderr).split()
    return next((w for w in words if w[:1].isdigit()), "unknown")


@dataclass(frozen=True, slots=True)
class OpenSmtpd:
    """A running instance: its port, its Maildir and the AUTH credentials it takes."""

    port: int
    maildir: Path
    user: str = USER
    password: str = PASSWORD


def _config(scratch: Path, port: int, tls: tuple[Path, Path] | None) -> Path:
    lines = []
    listen = f"listen on 127.0.0.1 port {port} hostname localhost"
    if tls is not None:
        secret = subprocess.run(  # noqa: S603 (fixed argv)
            [str(root() / _HELPERS / "encrypt"), PASSWORD], capture_output=True, text=True
        ).stdout.strip()
        (scratch / "credentials").write_text(f"{USER} {secret}\n")
        cert, key = tls
        key.chmod(0o600)  # smtpd refuses a key others may read
        lines += [
            f"table credentials file:{scratch / 'credentials'}",
            f'pki localhost cert "{cert}"',
            f'pki localhost key "{key}"',
        ]
        listen += " tls pki localhost auth-optional <credentials>"
    # Every recipient goes to one Maildir, delivered as nobody (a virtual catch-all).
    lines += [
        listen,
        f'action "store" maildir "{scratch / "maildir"}" virtual {{ "@" = "nobody" }}',
        'match auth from any for any action "store"',
        'match from any for any action "store"',
    ]
    path = scratch / "smtpd.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def _mounts(scratch: Path, config: Path) -> str:
    """The shell run inside the namespaces: scratch paths over smtpd's fixed ones."""
    helpers = root() / _HELPERS
    return f"""set -e
mount --make-rprivate /
mount -t tmpfs none /usr/libexec
mkdir /usr/libexec/opensmtpd
mount --bind {helpers} /usr/libexec/opensmtpd
mount -t tmpfs none /var/lib
mkdir -p /var/lib/opensmtpd/empty
mount --bind {scratch / "spool"} /var/spool
mount --bind {scratch / "run"} /run
exec {root() / "usr/sbin/smtpd"} -d -f {config}
"""


@contextlib.contextmanager
def running_opensmtpd(tls: tuple[Path, Path] | None = None) -> Iterator[OpenSmtpd]:
    """Start OpenSMTPD in a fresh directory under /tmp, yield it, then stop it and remove the
    directory. With `tls` (cert, key): STARTTLS, and AUTH after it.

    Debian's 6.8.0p2 build fails every TLS handshake ("EVP lib", OpenSSL 3, RSA and EC keys
    alike), so the suite grades it without TLS, and so without AUTH, which it offers only
    under TLS."""
    scratch = Path(tempfile.mkdtemp(prefix="smtp-proto-opensmtpd-"))
    scratch.chmod(0o711)  # deliveries run as nobody, who must reach the Maildir
    try:
        for sub in ("spool/smtpd", "run", "maildir/cur", "maildir/new", "maildir/tmp"):
            (scratch / sub).mkdir(parents=True)
        (scratch / "spool/smtpd").chmod(0o711)  # smtpd checks this mode
        for sub in ("maildir", "maildir/cur", "maildir/new", "maildir/tmp"):
            (scratch / sub).chmod(0o777)
        port = free_port()
        config = _config(scratch, port, tls)
        log = (scratch / "smtpd.log").open("wb")
        script = _mounts(scratch, config)
        process = subprocess.Popen(  # noqa: S603 (fixed argv)
            [UNSHARE, "--mount", "--pid", "--fork", "--kill-child", "/bin/sh", "-c", script],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_listening(port, 20.0)
            yield OpenSmtpd(port, scratch / "maildir")
        finally:
            process.send_signal(signal.SIGTERM)  # --kill-child then ends the whole namespace
            try:
                process.wait(10.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
