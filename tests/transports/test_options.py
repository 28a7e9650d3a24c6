"""Transport options: checked on creation, TLS mode merged into the core's config; counters."""

from __future__ import annotations

import dataclasses
import math
import ssl
from typing import Any

import pytest

from smtp_proto.config import ServerConfig, TlsMode
from transports.capacity import Utilization
from transports.options import ServerOptions


def test_defaults_follow_the_seed_and_rfc() -> None:
    options = ServerOptions()
    assert (options.ports, options.hosts) == ("2525", "127.0.0.1")
    assert (options.max_processings, options.max_connections) == (4, None)
    assert (options.io_cmd_timeout, options.io_data_timeout) == (300.0, 300.0)
    assert options.tls_handshake_timeout == 60.0
    assert options.server_config.tls_mode is TlsMode.FORBIDDEN
    assert not options.uses_tls


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ports": "2525,"}, "bad port"),
        ({"hosts": ""}, "bad host"),
        ({"ports": "1, 2", "hosts": "127.0.0.1"}, "2 port groups for 1 hosts"),
        ({"tls_implicit_ports": "x"}, "bad port"),
        ({"max_processings": 0}, "max_processings must be at least 1"),
        ({"max_connections": 0}, "max_connections must be at least 1"),
        ({"io_cmd_timeout": 0}, "io_cmd_timeout must be a positive"),
        ({"io_data_timeout": -1.0}, "io_data_timeout must be a positive"),
        ({"tls_handshake_timeout": math.inf}, "tls_handshake_timeout must be a positive"),
        ({"io_cmd_timeout": math.nan}, "io_cmd_timeout must be a positive"),
        ({"processing_wait": 0}, "processing_wait must be a positive"),
        ({"backlog": 0}, "backlog must be at least 1"),
        ({"tls_key_path": "key.pem"}, "tls_key_path needs tls_cert_path"),
        ({"tls_cert_san": "a.example"}, "sequence of names"),
    ],
)
def test_bad_options_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerOptions(**changes)


def test_ssl_context_and_certificate_file_exclude_each_other() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.raises(ValueError, match="either ssl_context or tls_cert_path"):
        ServerOptions(ssl_context=context, tls_cert_path="cert.pem")


def test_tls_mode_none_keeps_the_config_mode() -> None:
    config = ServerConfig(tls_mode=TlsMode.REQUIRED)
    options = ServerOptions(config=config)
    assert options.server_config is config
    assert options.uses_tls


def test_tls_mode_replaces_the_config_mode() -> None:
    config = ServerConfig(hostname="mx.example.test")
    options = ServerOptions(config=config, tls_mode=TlsMode.OPTIONAL)
    assert options.server_config == dataclasses.replace(config, tls_mode=TlsMode.OPTIONAL)


def test_implicit_tls_ports_alone_need_tls() -> None:
    options = ServerOptions(tls_implicit_ports="4650")
    assert options.server_config.tls_mode is TlsMode.FORBIDDEN
    assert options.uses_tls


def test_listeners_resolve_plain_then_implicit() -> None:
    options = ServerOptions(ports="2525", hosts="127.0.0.1", tls_implicit_ports="4650")
    assert [(item.port, item.tls) for item in options.listeners()] == [(2525, False), (4650, True)]


def test_connections_are_admitted_up_to_the_limit_and_not_one_more() -> None:
    counts = Utilization(max_connections=2, max_processings=1)
    assert counts.admit()
    assert counts.admit()
    assert not counts.admit()
    assert counts.connections == 2
    counts.leave()
    assert counts.admit()


def test_unlimited_connections() -> None:
    counts = Utilization(max_connections=None, max_processings=1)
    assert all(counts.admit() for _ in range(1000))
    assert counts.connections == 1000


def test_processing_slots_up_to_the_limit_and_not_one_more() -> None:
    counts = Utilization(max_connections=None, max_processings=2)
    assert counts.try_process()
    assert counts.try_process()
    assert not counts.try_process()
    assert counts.processings == 2
    counts.done_processing()
    assert counts.try_process()
