"""Fixtures for the conformance suite's own tests: a TLS certificate and target servers."""

from __future__ import annotations

import ssl

import pytest

from tests.conformance.conformance_tls import server_context, write_self_signed


@pytest.fixture(scope="session")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate."""
    cert, key = write_self_signed(tmp_path_factory.mktemp("tls"))
    return server_context(cert, key)
