"""pytest fixtures for testing an application that sends mail (registered as a pytest11 plugin).

```python
def test_welcome_mail(smtp_server):
    send_welcome("bob@example.test", host=smtp_server.host, port=smtp_server.port)
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_to == ("bob@example.test",)
    assert mail.message["Subject"] == "Welcome"
```

`smtp_server` is a server on a free loopback port that keeps every message;
`smtp_server_factory(...)` makes others: AUTH users, refused recipients, a size limit, STARTTLS
with a certificate the client trusts through `server.ssl_context`, another engine. The engine
is `threads` unless `--smtp-proto-engine` or the `smtp_proto_engine` ini value says otherwise.
Every server stops at the end of its test.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import pytest

from smtp_proto.config import AuthMode, Limits, ServerConfig, TlsMode
from smtp_proto.context import Context
from smtp_proto.errors import Smtpd535Error, SmtpError
from smtp_proto.handlers.sink import SinkHandler, StoredMessage
from transports import tls
from transports.base import ServerBase
from transports.engines import server_class

_ENGINE_OPTION = "--smtp-proto-engine"
_ENGINE_INI = "smtp_proto_engine"


class CapturingHandler(SinkHandler):
    """Keeps every message; checks AUTH against `users`; refuses the recipients in `refuse`
    with their (code, text); wakes `wait_for` as messages come."""

    def __init__(self, users: Mapping[str, str], refuse: Mapping[str, tuple[int, str]]) -> None:
        super().__init__()
        self.users = dict(users)
        self.refuse = {address.lower(): reply for address, reply in refuse.items()}
        self.arrived = threading.Condition()

    def on_auth_event(
        self, ctx: Context, authorization_id: str, authentication_id: str, authentication: str
    ) -> str | None:
        password = self.users.get(authentication_id)
        attempt = ctx.server.auth_credentials
        if password is None or attempt is None or not attempt.verify(password):
            raise Smtpd535Error
        if authorization_id not in ("", authentication_id):  # acting as another: RFC 4616 2
            raise Smtpd535Error
        return None

    def on_rcpt_to_event(self, ctx: Context, rcpt_to: str) -> str | None:
        refusal = self.refuse.get(rcpt_to.lower())
        if refusal is not None:
            raise SmtpError(*refusal)
        return None

    def keep(self, ctx: Context) -> StoredMessage:
        stored = super().keep(ctx)
        with self.arrived:
            self.arrived.notify_all()
        return stored


@dataclass
class SmtpTestServer:
    """A running server for a test: where it listens and what it received."""

    host: str
    port: int
    handler: CapturingHandler
    server: ServerBase
    ssl_context: ssl.SSLContext | None = None  # a client context that trusts the server
    certificate_pem: bytes = b""

    @property
    def messages(self) -> list[StoredMessage]:
        """The messages accepted so far, oldest first."""
        return self.handler.messages

    def wait_for(self, count: int, timeout: float = 5.0) -> list[StoredMessage]:
        """The messages once at least `count` have come; AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        with self.handler.arrived:
            while len(self.handler) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(self.handler)} of {count} messages arrived in {timeout:g} s"
                    )
                self.handler.arrived.wait(left)
        return self.messages

    def clear(self) -> list[StoredMessage]:
        """Forget the messages kept so far and return them."""
        return self.handler.clear()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The engine the `smtp_server` fixtures run (threads, asyncio, trio, gevent)."""
    parser.addoption(_ENGINE_OPTION, default=None, help="smtp-proto engine for smtp_server")
    parser.addini(_ENGINE_INI, default="threads", help="smtp-proto engine for smtp_server")


@pytest.fixture
def smtp_server_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., SmtpTestServer]]:
    """Make servers for this test; each stops when the test ends."""
    default_engine = request.config.getoption(_ENGINE_OPTION) or request.config.getini(_ENGINE_INI)
    made: list[ServerBase] = []

    def make(
        *,
        engine: str | None = None,
        users: Mapping[str, str] | None = None,
        refuse: Mapping[str, tuple[int, str]] | None = None,
        message_size: int | None = None,
        starttls: bool = False,
    ) -> SmtpTestServer:
        handler = CapturingHandler(users or {}, refuse or {})
        limits = Limits() if message_size is None else Limits(message_size=message_size)
        config = ServerConfig(
            limits=limits,
            auth_mode=AuthMode.OPTIONAL if users else AuthMode.FORBIDDEN,
            auth_plaintext=True,  # a test client need not upgrade to log in
            tls_mode=TlsMode.OPTIONAL if starttls else TlsMode.FORBIDDEN,
        )
        server_context = client_context = None
        cert_pem = b""
        if starttls:
            cert_pem, key_pem = tls.generate_certificate("localhost", ["localhost", "127.0.0.1"])
            server_context = tls.context_from_pem(cert_pem, key_pem)
            client_context = ssl.create_default_context(cadata=cert_pem.decode("ascii"))
        server = server_class(engine or str(default_engine))(
            handler, "0", "127.0.0.1", config=config, ssl_context=server_context
        )
        server.start()
        made.append(server)
        host, port = server.addresses[0]
        return SmtpTestServer(host, port, handler, server, client_context, cert_pem)

    yield make
    for server in made:
        server.stop(grace=0)


@pytest.fixture
def smtp_server(smtp_server_factory: Callable[..., SmtpTestServer]) -> SmtpTestServer:
    """A server on a free loopback port that keeps every message it accepts."""
    return smtp_server_factory()
