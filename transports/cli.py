"""The `smtp-proto` command: `serve` stores mail into a Maildir or relays it upstream;
`check` grades a server.

Bad options give one line on stderr naming the option and the value, and exit status 2;
a server that cannot start exits with 1; a stop by Ctrl-C or SIGTERM is graceful and
exits with 0. No error prints a traceback.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, NoReturn

from smtp_proto.config import AuthMode, Limits, ServerConfig, TlsMode
from smtp_proto.context import Context
from smtp_proto.errors import Smtpd535Error
from smtp_proto.handler import Handler
from smtp_proto.handlers.maildir import MaildirHandler
from smtp_proto.handlers.relay import RelayHandler
from smtp_proto.logs import SessionFormatter
from smtp_proto.proxy import ProxyVersion
from transports import cli_checks, cli_relay, listen
from transports.base import ServerBase
from transports.cli_checks import CliError
from transports.engines import ENGINES, server_class
from transports.options import (
    IO_CMD_TIMEOUT,
    IO_DATA_TIMEOUT,
    PROCESSING_WAIT,
    TLS_HANDSHAKE_TIMEOUT,
    ServerOptions,
)
from transports.supervisor import stop_on_signals, supervise, worker_count

PROG: Final = "smtp-proto"
TRANSPORTS: Final = ENGINES
DEFAULT_TRANSPORT: Final = "threads"  # the fastest in BENCHMARKS.md, and into a Maildir too
TLS_MODES: Final = {
    "off": TlsMode.FORBIDDEN,
    "optional": TlsMode.OPTIONAL,
    "required": TlsMode.REQUIRED,
}
# Hooks (here: writing a file) at once; more than a pool of senders keeps busy.
SERVE_PROCESSINGS: Final = 32
LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(message)s"

log = logging.getLogger("smtp_proto.transports")


class UsageError(Exception):
    """A bad option or option file: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with errors reported in one line instead of usage plus message."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


class _Accounts(Handler):
    """Checks AUTH against `credentials` (user: password)."""

    credentials: dict[str, str]

    def on_auth_event(
        self, ctx: Context, authorization_id: str, authentication_id: str, authentication: str
    ) -> str | None:
        """Accept a user whose password matches (every mechanism, CRAM-MD5 included), acting
        as no one but themselves (RFC 4616 2: an authzid the server does not allow fails)."""
        password = self.credentials.get(authentication_id)
        attempt = ctx.server.auth_credentials
        if password is None or attempt is None or not attempt.verify(password):
            raise Smtpd535Error(log=f"authentication failed for {authentication_id!r}")
        if authorization_id not in ("", authentication_id):
            raise Smtpd535Error(log=f"{authentication_id!r} may not act as {authorization_id!r}")
        return None


class ServeHandler(_Accounts, MaildirHandler):
    """Stores every accepted message into a Maildir; checks AUTH against `credentials`.

    Over LMTP the message is stored once, before the replies: each recipient's 250 says
    that copy is safe, and a failed write fails every recipient alike.
    """

    def __init__(self, path: Path, credentials: dict[str, str], hostname: str | None) -> None:
        super().__init__(path, hostname=hostname)
        self.credentials = credentials


class ServeRelay(_Accounts, RelayHandler):
    """Relays every message upstream (`RelayHandler`); checks AUTH against `credentials`."""

    def __init__(self, credentials: dict[str, str], host: str, **options: Any) -> None:
        super().__init__(host, **options)
        self.credentials = credentials


def _version() -> str:
    try:
        return importlib.metadata.version("smtp-proto")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The parser for `smtp-proto` and its subcommands."""
    parser = _Parser(prog=PROG, description="An SMTP server library's command line.")
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="receive mail into a Maildir, or relay it",
        description="Receive mail over SMTP and store every accepted message into a Maildir"
        " or relay it to an upstream server.",
    )
    commands.add_parser("check", help="grade an SMTP server against the RFCs", add_help=False)
    _serve_options(serve)
    return parser


def _serve_options(p: argparse.ArgumentParser) -> None:
    where = p.add_argument_group("listeners (the ports and hosts grammar)")
    where.add_argument("--host", help='hosts, e.g. "127.0.0.1, ::1" or "*" (default 127.0.0.1)')
    where.add_argument("--port", help='ports, e.g. "2525" or "2525:2526" (0: a free port)')
    where.add_argument(
        "--listen",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="one listener, e.g. [::1]:2525; repeatable; not with --host/--port",
    )
    where.add_argument(
        "--proxy-protocol",
        choices=("v1", "v2", "any"),
        help="a PROXY header (HAProxy's protocol) comes first on every connection",
    )
    where.add_argument(
        "--proxy-trusted",
        metavar="CIDR,...",
        help="peers whose PROXY headers are believed (default: loopback only)",
    )
    where.add_argument(
        "--xclient-trusted",
        metavar="CIDR,...",
        help="front ends that may name the client with XCLIENT (default: none)",
    )
    p.add_argument("--maildir", type=Path, help="default ./maildir (not with --relay)")
    p.add_argument(
        "--hostname",
        type=cli_checks.hostname,
        help="this server's name in replies and Received headers (default: the host's name)",
    )
    p.add_argument(
        "--lmtp",
        action="store_true",
        help="speak LMTP (RFC 2033): LHLO, a reply per recipient after the data; not on port 25",
    )
    cli_relay.add_options(p)
    tls = p.add_argument_group("TLS")
    tls.add_argument("--tls", choices=tuple(TLS_MODES), default="off", help="STARTTLS")
    tls.add_argument(
        "--tls-implicit",
        metavar="PORTS",
        default="",
        help="implicit-TLS (SMTPS) ports on the same hosts, e.g. 4650",
    )
    tls.add_argument("--cert", type=Path, help="certificate (chain) PEM; self-signed if absent")
    tls.add_argument("--key", type=Path, help="private key PEM (default: inside --cert)")
    auth = p.add_argument_group("AUTH")
    auth.add_argument(
        "--auth",
        action="append",
        default=[],
        metavar="USER:PASSWORD",
        help="accept these credentials; repeatable",
    )
    auth.add_argument("--auth-file", type=Path, help="a file of USER:PASSWORD lines")
    auth.add_argument("--auth-required", action="store_true", help="MAIL needs AUTH first")
    limits = p.add_argument_group("limits")
    limits.add_argument("--max-connections", type=cli_checks.count, help="default unlimited")
    limits.add_argument(
        "--max-processings",
        type=cli_checks.count,
        default=SERVE_PROCESSINGS,
        help=f"hooks run at once (a silent client holds none); default {SERVE_PROCESSINGS}",
    )
    limits.add_argument(
        "--processing-wait",
        type=cli_checks.seconds,
        default=PROCESSING_WAIT,
        metavar="SECONDS",
        help=f"wait for a free slot, then 421; default {PROCESSING_WAIT:g}",
    )
    timeouts = p.add_argument_group("time-outs (seconds)")
    timeouts.add_argument(
        "--cmd-timeout",
        type=cli_checks.seconds,
        default=IO_CMD_TIMEOUT,
        help=f"for each command; default {IO_CMD_TIMEOUT:g} (RFC 5321 4.5.3.2)",
    )
    timeouts.add_argument(
        "--data-timeout",
        type=cli_checks.seconds,
        default=IO_DATA_TIMEOUT,
        help=f"for each read of message text; default {IO_DATA_TIMEOUT:g}",
    )
    timeouts.add_argument(
        "--tls-timeout",
        type=cli_checks.seconds,
        default=TLS_HANDSHAKE_TIMEOUT,
        help=f"for the TLS handshake; default {TLS_HANDSHAKE_TIMEOUT:g}",
    )
    limits.add_argument(
        "--max-size", type=cli_checks.count, metavar="BYTES", help="largest message"
    )
    p.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default=DEFAULT_TRANSPORT,
        help=f"the engine (default {DEFAULT_TRANSPORT}, the fastest in BENCHMARKS.md)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every session step")
    p.add_argument(
        "--workers",
        default="1",
        metavar="N",
        help="processes sharing the ports, one per core: a number or auto (default 1)",
    )
    # Set by --workers for each worker it starts.
    p.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--worker-id", type=int, default=0, help=argparse.SUPPRESS)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list[:1] == ["check"]:
            return cli_checks.check(args_list[1:])
        args = build_parser().parse_args(args_list)
        server = _build_server(args)  # every option checked, even where workers serve
        count = worker_count(args.workers)
        if count > 1:
            _fixed_ports(args)
            with _logging(args.verbose, 0):
                return _supervise(count, _without_workers(args_list))
    except SystemExit as exit_:  # --help, or argparse inside `check`
        return exit_.code if isinstance(exit_.code, int) else 0
    except (UsageError, CliError, ValueError, TypeError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    with _logging(args.verbose, args.worker_id):
        try:
            return serve(server)
        except KeyboardInterrupt:  # a second Ctrl-C while stopping: quit at once
            print(f"{PROG}: interrupted", file=sys.stderr)
            return 130


def serve(server: ServerBase, stop: threading.Event | None = None) -> int:
    """Start `server`, wait for `stop` (or SIGINT/SIGTERM), stop it gracefully."""
    stop = stop or threading.Event()
    with stop_on_signals(stop):  # before start(): a signal right after "listening on" must count
        try:
            server.start()
        except (OSError, ValueError) as err:  # a taken port, a bad certificate, a duplicate
            print(f"{PROG}: error: {err}", file=sys.stderr)
            return 1
        log.info("serving on the %s engine", server.engine)
        stop.wait()
        log.info("stopping")
        server.stop()
    return 0


def _supervise(count: int, worker_argv: list[str]) -> int:
    stop = threading.Event()
    with stop_on_signals(stop):
        return supervise(count, worker_argv, stop)


def _fixed_ports(args: argparse.Namespace) -> None:
    ports, _ = _listeners(args)
    if any(port == 0 for group in listen.parse_ports(ports) for port in group):
        raise UsageError("--workers needs fixed ports: each worker binds the same ones")


def _without_workers(argv: list[str]) -> list[str]:
    """The command line of `serve` less its --workers option (for the workers)."""
    out, skip = [], False
    for item in argv[1:]:  # argv[0] is "serve"
        if skip:
            skip = False
        elif item == "--workers":
            skip = True
        elif not item.startswith("--workers="):
            out.append(item)
    return out


@contextmanager
def _logging(verbose: bool, worker: int) -> Iterator[None]:
    logger = logging.getLogger("smtp_proto")
    handler = logging.StreamHandler(sys.stderr)
    named = LOG_FORMAT.replace("%(message)s", f"worker {worker} %(message)s")
    handler.setFormatter(SessionFormatter(named if worker else LOG_FORMAT))
    old_level = logger.level
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _build_server(args: argparse.Namespace) -> ServerBase:
    ports, hosts = _listeners(args)
    credentials = _credentials(args.auth, args.auth_file)
    if args.auth_required and not credentials:
        raise UsageError("--auth-required needs --auth or --auth-file")
    if args.key is not None and args.cert is None:
        raise UsageError("--key needs --cert")
    tls_mode = TLS_MODES[args.tls]
    if args.cert is not None and tls_mode is TlsMode.FORBIDDEN and not args.tls_implicit:
        raise UsageError("--cert needs --tls optional|required or --tls-implicit")
    cli_relay.check_use(args)
    if args.lmtp and any(25 in group for group in listen.parse_ports(ports)):
        raise UsageError("--lmtp cannot listen on port 25 (RFC 2033 5)")
    hostname = args.hostname or _local_name()  # one name in greetings and Received lines
    options = ServerOptions(
        ports=ports,
        hosts=hosts,
        max_processings=args.max_processings,
        max_connections=args.max_connections,
        config=_config(args, hostname, credentials, tls_mode),
        tls_implicit_ports=args.tls_implicit,
        tls_cert_path=args.cert,
        tls_key_path=args.key,
        io_cmd_timeout=args.cmd_timeout,
        io_data_timeout=args.data_timeout,
        tls_handshake_timeout=args.tls_timeout,
        processing_wait=args.processing_wait,
        reuse_port=args.reuse_port,
    )  # checked before the handler creates the Maildir
    cli_checks.engine_available(args.transport)
    if args.cert is not None:
        cli_checks.tls_files(args.cert, args.key)
    handler = _handler(args, credentials, hostname)
    return _server_class(args.transport)(
        handler,
        options.ports,
        options.hosts,
        options.max_processings,
        options.max_connections,
        config=options.config,
        tls_implicit_ports=options.tls_implicit_ports,
        tls_cert_path=options.tls_cert_path,
        tls_key_path=options.tls_key_path,
        io_cmd_timeout=options.io_cmd_timeout,
        io_data_timeout=options.io_data_timeout,
        tls_handshake_timeout=options.tls_handshake_timeout,
        processing_wait=options.processing_wait,
        reuse_port=options.reuse_port,
    )


def _handler(args: argparse.Namespace, credentials: dict[str, str], hostname: str) -> Handler:
    """The relay for --relay, else the Maildir (made here, once every option is checked)."""
    if args.relay is not None:
        return ServeRelay(credentials, **cli_relay.settings(args), hostname=hostname)
    path = args.maildir or Path("maildir")
    cli_checks.maildir(path)
    return ServeHandler(path, credentials, hostname)


def _server_class(transport: str) -> type[ServerBase]:
    """The engine named by --transport (each imported only when chosen)."""
    return server_class(transport)


def _local_name() -> str:
    """This host's name as the system knows it (no DNS asked), or localhost."""
    name = socket.gethostname()
    usable = name and name.isascii() and name.isprintable() and " " not in name
    return name if usable else "localhost"


def _config(
    args: argparse.Namespace, hostname: str, credentials: dict[str, str], tls: TlsMode
) -> ServerConfig:
    auth = AuthMode.FORBIDDEN
    if credentials:
        auth = AuthMode.REQUIRED if args.auth_required else AuthMode.OPTIONAL
    limits = Limits() if args.max_size is None else Limits(message_size=args.max_size)
    extra: dict[str, Any] = {"hostname": hostname}
    if args.lmtp:  # RFC 2033 4.2: the Maildir's one copy answers every recipient
        extra.update(lmtp=True, greeting="LMTP smtp-proto ready")
    if args.relay is not None:  # relayed with DATA: BDAT-only content cannot go on
        extra["binarymime"] = False
    if args.proxy_protocol:
        extra["proxy_protocol"] = ProxyVersion(args.proxy_protocol)
    for option in ("proxy_trusted", "xclient_trusted"):
        given = getattr(args, option)
        if given:
            extra[option] = tuple(n.strip() for n in given.split(","))
            try:
                ServerConfig(**{option: extra[option]})
            except ValueError as err:
                flag = "--" + option.replace("_", "-")
                raise UsageError(f"{flag} {given}: {err}") from err
    return ServerConfig(**extra, limits=limits, auth_mode=auth, tls_mode=tls)


def _listeners(args: argparse.Namespace) -> tuple[str, str]:
    """The ports and hosts strings, from --port/--host or from --listen."""
    if not args.listen:
        port = "2525" if args.port is None else args.port
        return port, "127.0.0.1" if args.host is None else args.host
    if args.port is not None or args.host is not None:
        raise UsageError("--listen cannot be combined with --host or --port")
    pairs = [_host_port(item) for item in args.listen]
    return ", ".join(port for _, port in pairs), ", ".join(host for host, _ in pairs)


def _host_port(text: str) -> tuple[str, str]:
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise UsageError(f"--listen {text}: write IPv6 addresses in brackets, e.g. [::1]:2525")
    if not sep or not host or not port:
        raise UsageError(f"--listen {text}: expected HOST:PORT")
    return host, port


def _credentials(pairs: Sequence[str], path: Path | None) -> dict[str, str]:
    found: dict[str, str] = {}
    lines = [(f"--auth {pair.partition(':')[0]}:...", pair) for pair in pairs]
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise UsageError(f"--auth-file {path}: {err.strerror or err}") from err
        except UnicodeDecodeError as err:
            raise UsageError(f"--auth-file {path}: not UTF-8 text ({err.reason})") from err
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append((f"{path}:{number}", line.rstrip("\r\n")))
    for where, line in lines:
        user, sep, password = line.partition(":")
        if not sep or not user or not password:
            raise UsageError(f"{where}: expected USER:PASSWORD")
        found[user] = password
    return found
