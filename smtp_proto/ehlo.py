"""The EHLO/LHLO capability list: which extensions are offered in the current state."""

from __future__ import annotations

from smtp_proto.config import AuthMode, ServerConfig, TlsMode


def auth_offered(config: ServerConfig, *, encrypted: bool) -> bool:
    """AUTH is offered unless forbidden, or while TLS is available but not yet active."""
    if config.auth_mode is AuthMode.FORBIDDEN:
        return False
    tls_available = config.tls_mode is not TlsMode.FORBIDDEN
    return encrypted or not tls_available or config.auth_plaintext


def mechanisms(config: ServerConfig, *, cram_md5: bool) -> tuple[str, ...]:
    """The AUTH mechanisms offered; CRAM-MD5 only when the caller supplies nonces."""
    return tuple(m for m in config.auth_mechanisms if cram_md5 or m != "CRAM-MD5")


def capabilities(config: ServerConfig, *, encrypted: bool, cram_md5: bool) -> list[str]:
    """Keyword lines after the first line of the 250 reply, in a stable order."""
    flags = (
        (config.pipelining, "PIPELINING"),
        (config.size, f"SIZE {config.limits.message_size}"),
        (config.eightbitmime, "8BITMIME"),
        (config.smtputf8, "SMTPUTF8"),
        (config.enhanced_status_codes, "ENHANCEDSTATUSCODES"),
        (config.chunking, "CHUNKING"),
        (config.binarymime, "BINARYMIME"),
        (config.dsn, "DSN"),
    )
    caps = [keyword for on, keyword in flags if on]
    offered = mechanisms(config, cram_md5=cram_md5)
    if auth_offered(config, encrypted=encrypted) and offered:
        caps.append("AUTH " + " ".join(offered))
    if config.tls_mode is not TlsMode.FORBIDDEN and not encrypted:
        caps.append("STARTTLS")
    caps.append("HELP")
    return caps


def param_keywords(config: ServerConfig, *, encrypted: bool) -> frozenset[str]:
    """EHLO keywords whose MAIL/RCPT parameters are accepted in an extended session."""
    on = {
        "SIZE": config.size,
        "8BITMIME": config.eightbitmime,
        "BINARYMIME": config.binarymime,
        "SMTPUTF8": config.smtputf8,
        "AUTH": auth_offered(config, encrypted=encrypted),
        "DSN": config.dsn,
    }
    return frozenset(k for k, v in on.items() if v)
