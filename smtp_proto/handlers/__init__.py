"""Ready-made handlers: store messages into a Maildir, keep them in memory, or relay them."""

from smtp_proto.handlers.maildir import (
    MaildirHandler,
    local_name,
    received_header,
    received_protocol,
)
from smtp_proto.handlers.relay import RelayHandler, RelayTls
from smtp_proto.handlers.sink import SinkHandler, StoredMessage

__all__ = [
    "MaildirHandler",
    "RelayHandler",
    "RelayTls",
    "SinkHandler",
    "StoredMessage",
    "local_name",
    "received_header",
    "received_protocol",
]
