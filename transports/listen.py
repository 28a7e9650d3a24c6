"""Listener grammar: which addresses and ports a server binds, and binding them.

Parses MidiSmtpServer's `ports` / `hosts` strings, resolves names and the `"*"` wildcard to
addresses, refuses duplicates, and opens listening sockets. Never reads or writes SMTP.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

WILDCARD: Final = "*"
_SOMAXCONN: Final = Path("/proc/sys/net/core/somaxconn")
_SIOCGIFADDR: Final = 0x8915  # Linux ioctl: an interface's IPv4 address
_IF_INET6: Final = Path("/proc/net/if_inet6")


@dataclass(frozen=True, slots=True)
class Listener:
    """One address and port to listen on.

    `host` is the address literal to bind (IPv6 link-local ones carry `%scope`); `name` is
    the host as the user wrote it (a name, an address or `*`); `tls` marks an implicit-TLS
    (SMTPS, RFC 8314) listener, whose clients start the TLS handshake at once.
    """

    host: str
    port: int
    tls: bool = False
    name: str = ""

    @property
    def family(self) -> socket.AddressFamily:
        """AF_INET or AF_INET6, from the address literal."""
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}{' (tls)' if self.tls else ''}"


def parse_ports(ports: str) -> list[tuple[int, ...]]:
    """Split a ports string into groups: `"2525, 2525:3535"` -> `[(2525,), (2525, 3535)]`.

    Commas separate the groups paired with hosts; colons join ports served on one host.
    Raises `ValueError` for an empty group or a port outside 0..65535 (0 = any free port).
    """
    groups: list[tuple[int, ...]] = []
    for item in ports.split(","):
        group = tuple(_port(part) for part in item.split(":"))
        if len(set(group) - {0}) != len([p for p in group if p]):
            raise ValueError(f"port given twice in {item.strip()!r}")
        groups.append(group)
    return groups


def _port(text: str) -> int:
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"bad port {text!r}: expected a number 0..65535")
    port = int(text)
    if port > 65535:
        raise ValueError(f"bad port {text!r}: expected a number 0..65535")
    return port


def parse_hosts(hosts: str) -> list[str]:
    """Split a hosts string: `"127.0.0.1, ::1, mx.example"`; `[::1]` loses its brackets.

    Raises `ValueError` for an empty entry or one with spaces.
    """
    names: list[str] = []
    for item in hosts.split(","):
        name = item.strip()
        if name.startswith("[") and name.endswith("]"):
            name = name[1:-1]
        if not name or any(c.isspace() for c in name) or not name.isprintable():
            raise ValueError(f"bad host {item.strip()!r} in {hosts!r}")
        names.append(name)
    return names


def pair(ports: str, hosts: str) -> list[tuple[str, tuple[int, ...]]]:
    """Pair each host with its port group; the last group serves every further host.

    Raises `ValueError` on bad syntax or on more port groups than hosts.
    """
    groups, names = parse_ports(ports), parse_hosts(hosts)
    if len(groups) > len(names):
        raise ValueError(f"{len(groups)} port groups for {len(names)} hosts: {ports!r}")
    return [(name, groups[min(i, len(groups) - 1)]) for i, name in enumerate(names)]


def plan(ports: str, hosts: str, tls_ports: str = "") -> list[Listener]:
    """Every listener the grammar asks for, names and `*` resolved to addresses.

    `tls_ports` uses the ports grammar for implicit-TLS listeners on the same hosts.
    Raises `ValueError` when an address and port appear twice (port 0 never clashes),
    `OSError` when a name does not resolve.
    """
    wanted = [(name, group, False) for name, group in pair(ports, hosts)]
    if tls_ports.strip():
        wanted += [(name, group, True) for name, group in pair(tls_ports, hosts)]
    listeners: list[Listener] = []
    seen: set[tuple[str, int]] = set()
    for name, group, tls in wanted:
        for address in resolve(name):
            for port in group:
                key = (address, port)
                if port and key in seen:
                    shown = Listener(address, port)
                    raise ValueError(f"{shown} is given twice (from host {name!r})")
                seen.add(key)
                listeners.append(Listener(address, port, tls, name))
    return listeners


def resolve(name: str) -> list[str]:
    """The addresses `name` stands for: itself for a literal, every local one for `*`."""
    if name == WILDCARD:
        return local_addresses()
    if _is_address(name):
        return [name]
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise OSError(f"cannot resolve host {name!r}: {err.strerror}") from err
    return _unique(str(info[4][0]) for info in infos)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return False
    return True


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def local_addresses() -> list[str]:
    """Every IPv4 and IPv6 address of this machine's interfaces, loopbacks first."""
    found = ["127.0.0.1"]
    if socket.has_ipv6 and _ipv6_works():
        found.append("::1")
    found += _ipv4_interface_addresses()
    found += _ipv6_interface_addresses()
    with contextlib.suppress(OSError):
        found += resolve(socket.gethostname())
    return _unique(found)


def _ipv6_works() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def _ipv4_interface_addresses() -> Iterator[str]:
    # The stdlib has no portable interface list; Linux answers SIOCGIFADDR per interface.
    try:
        import fcntl  # POSIX only

        names = [name for _, name in socket.if_nameindex()]
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except (ImportError, OSError):
        return
    with probe:
        for name in names:
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
            except OSError:
                continue  # no IPv4 address on this interface
            yield socket.inet_ntoa(answer[20:24])


def _ipv6_interface_addresses() -> Iterator[str]:
    # /proc/net/if_inet6: address in 32 hex digits, index, prefix, scope, flags, name.
    try:
        lines = _IF_INET6.read_text().splitlines()
    except OSError:
        return
    for line in lines:
        fields = line.split()
        if len(fields) != 6:
            continue
        address = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
        if address.is_link_local:
            yield f"{address.compressed}%{fields[5]}"
        else:
            yield address.compressed


def os_backlog() -> int:
    """The largest listen backlog the system grants (Linux: net.core.somaxconn).

    A burst of clients beyond the backlog overflows it: the kernel drops their handshakes
    or completes them by SYN cookie, and such clients may wait for a greeting forever.
    """
    with contextlib.suppress(OSError, ValueError):
        return max(socket.SOMAXCONN, int(_SOMAXCONN.read_text()))
    return socket.SOMAXCONN


def bind(
    listener: Listener, backlog: int | None = None, *, reuse_port: bool = False
) -> socket.socket:
    """A listening socket for `listener` with `backlog` (None: the system's largest);
    `reuse_port`: other processes may listen on the same address and the system shares
    the connections out (SO_REUSEPORT). Raises `OSError` (e.g. the port is taken)."""
    infos = socket.getaddrinfo(
        listener.host,
        listener.port,
        listener.family,
        socket.SOCK_STREAM,
        flags=socket.AI_NUMERICHOST | socket.AI_PASSIVE,
    )
    family, kind, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if os.name == "posix":
            # TIME_WAIT leftovers must not block a restart; a live listener still does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            # "::" and "0.0.0.0" are separate listeners, each on its own family.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        sock.listen(os_backlog() if backlog is None else backlog)
    except OSError as err:
        sock.close()
        raise OSError(err.errno, f"cannot listen on {listener}: {err.strerror}") from err
    return sock


@functools.lru_cache(maxsize=256)
def fixed_local_address(listener: Listener) -> tuple[str, int] | None:
    """The local address of every connection `listener` accepts, when its bound address
    says it: None for an unspecified address (0.0.0.0, ::) or a scoped IPv6 one, whose
    connections need `getsockname()`."""
    if "%" in listener.host or ipaddress.ip_address(listener.host).is_unspecified:
        return None
    return listener.host, listener.port


def bound(listener: Listener, sock: socket.socket) -> Listener:
    """`listener` with the port the system actually gave (for port 0)."""
    port = int(sock.getsockname()[1])
    return Listener(listener.host, port, listener.tls, listener.name)


def accept_waiting(sock: socket.socket) -> list[socket.socket]:
    """The connections already waiting in a listening socket's backlog, without blocking.

    A stopping server answers them before it closes the listener; closing it first would
    reset connections the clients saw as established. Leaves `sock` non-blocking.
    """
    sock.setblocking(False)
    waiting: list[socket.socket] = []
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:  # BlockingIOError: none left (or the listener is broken)
            return waiting
        waiting.append(conn)
