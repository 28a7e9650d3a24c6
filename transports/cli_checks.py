"""What the `smtp-proto` command checks before it starts, so that each error names the
option and the file or value at fault: numbers, names, TLS files, the Maildir, engines'
extras; and `check`, which first asks whether the peer to be graded speaks SMTP at all.
"""

from __future__ import annotations

import argparse
import importlib
import math
import re
import socket
import ssl
import sys
import time
from pathlib import Path
from typing import Final

from smtp_proto.config import ServerConfig

# The extra that brings each engine's library: (module, extra).
EXTRAS: Final = {"trio": ("trio", "trio"), "gevent": ("gevent", "gevent")}
# How long `check` waits for a greeting before it asks the peer to say something.
GREETING_PATIENCE: Final = 2.0
_REPLY: Final = re.compile(rb"[2-5]\d\d[ -]")
# The first octet of a TLS record: an alert or a handshake (RFC 8446 5.1).
_TLS_RECORDS: Final = frozenset({0x15, 0x16})


class CliError(Exception):
    """A value the command cannot use; its text names the option and the value."""


def count(text: str) -> int:
    """A whole number of at least 1 (argparse names the option in front)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def hostname(text: str) -> str:
    """A name a greeting may carry: printable ASCII without spaces."""
    try:
        ServerConfig(hostname=text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: {err}") from err
    return text


def engine_available(transport: str) -> None:
    """CliError naming the extra to install when `transport`'s library is missing."""
    if transport not in EXTRAS:
        return
    module, extra = EXTRAS[transport]
    try:
        importlib.import_module(module)
    except ImportError as err:
        raise CliError(
            f"--transport {transport} needs {module}, which is not installed:"
            f" pip install 'smtp-proto[{extra}]'"
        ) from err


def _read(option: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise CliError(f"{option} {path}: {err.strerror or err}") from err


def _no_password() -> bytes:
    raise CliError("encrypted")  # never prompt on the terminal


def tls_files(cert: Path, key: Path | None) -> None:
    """CliError unless `cert` (and `key`, or a key inside `cert`) load as a pair."""
    cert_pem = _read("--cert", cert)
    if b"-----BEGIN CERTIFICATE-----" not in cert_pem:
        raise CliError(f"--cert {cert}: no PEM certificate in it")
    if key is None:
        if b"PRIVATE KEY-----" not in cert_pem:
            raise CliError(f"--cert {cert}: no private key in it; name one with --key")
    elif b"PRIVATE KEY-----" not in _read("--key", key):
        raise CliError(f"--key {key}: no PEM private key in it")
    named = f"--cert {cert}" + (f" and --key {key}" if key else "")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=_no_password)
    except CliError as err:
        raise CliError(f"{named}: the key is encrypted; give an unencrypted one") from err
    except ssl.SSLError as err:
        reason = err.reason or str(err)
        if "KEY_VALUES_MISMATCH" in reason.upper():
            raise CliError(f"{named}: the key does not belong to the certificate") from err
        raise CliError(f"{named}: cannot be loaded ({reason})") from err


def maildir(path: Path) -> None:
    """CliError unless `path` is, or can become, a Maildir (cur, new and tmp folders)."""
    for sub in (path, path / "cur", path / "new", path / "tmp"):
        if sub.exists() and not sub.is_dir():
            raise CliError(f"--maildir {path}: {sub} is not a directory")
    try:
        for name in ("cur", "new", "tmp"):
            (path / name).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CliError(f"--maildir {path}: {err.strerror or err}") from err


def smtp_greeting(host: str, port: int, *, timeout: float, implicit_tls: bool) -> str | None:
    """Why the peer at host:port is not an SMTP server, or None when it greets like one
    (or cannot be reached: the conformance run then says so itself).

    A peer silent for `GREETING_PATIENCE` seconds is sent QUIT and a blank line: a slow
    SMTP server still greets, then says 221; a web server that waits for a request
    answers that one, and a TLS port hangs up or sends an alert, so each is told apart
    in seconds, not after the whole `timeout`.
    """
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return None
    with sock:
        if implicit_tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # grading, not trusting
            try:
                sock = context.wrap_socket(sock, server_hostname=host)
            except (OSError, ssl.SSLError):
                return None
        return _first_words(sock, timeout)


def _first_words(sock: socket.socket, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    first = _recv(sock, min(GREETING_PATIENCE, timeout))
    if first is None:
        return None  # closed without a word: the run reports it
    asked = first == b""
    if asked:  # silent so far: ask
        try:
            sock.sendall(b"QUIT\r\n\r\n")
        except OSError:
            return None
        first = _recv(sock, max(0.1, deadline - time.monotonic()))
    if first == b"":
        return f"no SMTP greeting within {timeout:g} s (the peer said nothing)"
    if (first is None and asked) or (first and first[0] in _TLS_RECORDS):
        return "no SMTP greeting (the peer waits for TLS: try --tls-implicit)"
    if first is None or _REPLY.match(first):
        return None
    shown = first.split(b"\n", 1)[0].strip().decode("ascii", "replace")[:60]
    return f"no SMTP greeting (the peer said {shown!r})"


def _recv(sock: socket.socket, wait: float) -> bytes | None:
    """Up to a line from `sock`: b"" when nothing came in `wait` s, None when it closed."""
    sock.settimeout(wait)
    try:
        data = sock.recv(512)
    except TimeoutError:
        return b""
    except OSError:
        return None
    return data or None


def check(argv: list[str]) -> int:
    """`smtp-proto check`: a peer that is no SMTP server is told apart before the run."""
    from conformance.cli import build_parser as check_parser  # imported only when used
    from conformance.cli import main as check_main
    from conformance.target import parse_hostport

    args = check_parser().parse_args(argv)
    if args.address is not None and not args.list and args.proxy is None:
        try:
            host, port = parse_hostport(args.address)
        except ValueError:
            return check_main(argv)  # it reports the bad address itself
        why = smtp_greeting(host, port, timeout=args.timeout, implicit_tls=args.tls_implicit)
        if why is not None:
            print(f"cannot grade {args.address}: {why}", file=sys.stderr)
            return 1
    return check_main(argv)
