"""TLS contexts and the generated self-signed certificate (no sockets: in-memory handshakes)."""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from transports import tls


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, hostname: str) -> None:
    """Run a TLS handshake between two in-memory endpoints; raises ssl.SSLError if refused."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client_end = client.wrap_bio(c_in, c_out, server_hostname=hostname)
    server_end = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, end in (("client", client_end), ("server", server_end)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


def _client_trusting(cert_pem: bytes) -> ssl.SSLContext:
    client = ssl.create_default_context(cadata=cert_pem.decode("ascii"))
    assert client.check_hostname
    return client


@pytest.fixture(scope="module")
def generated() -> tuple[bytes, bytes]:
    return tls.generate_certificate("mx.example.test", ["mx.example.test", "127.0.0.1", "::1"])


def test_generated_certificate_names(generated: tuple[bytes, bytes]) -> None:
    cert = x509.load_pem_x509_certificate(generated[0])
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "mx.example.test"
    assert cert.issuer == cert.subject
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mx.example.test"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]


def test_generated_certificate_lasts_90_days_with_an_ec_p256_key(
    generated: tuple[bytes, bytes],
) -> None:
    cert = x509.load_pem_x509_certificate(generated[0])
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime == datetime.timedelta(days=90, minutes=5)
    now = datetime.datetime.now(datetime.UTC)
    assert cert.not_valid_before_utc <= now < cert.not_valid_after_utc
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert not basic.ca


@pytest.mark.parametrize("hostname", ["mx.example.test", "127.0.0.1", "::1"])
def test_a_client_verifies_every_generated_name(
    generated: tuple[bytes, bytes], hostname: str
) -> None:
    server = tls.context_from_pem(*generated)
    _handshake(server, _client_trusting(generated[0]), hostname)


def test_a_client_refuses_a_name_not_in_the_certificate(generated: tuple[bytes, bytes]) -> None:
    server = tls.context_from_pem(*generated)
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        _handshake(server, _client_trusting(generated[0]), "other.example.test")


def test_contexts_need_tls_1_2_or_newer(generated: tuple[bytes, bytes]) -> None:
    assert tls.new_context().minimum_version is ssl.TLSVersion.TLSv1_2
    assert tls.context_from_pem(*generated).minimum_version is ssl.TLSVersion.TLSv1_2


def test_pem_in_memory_goes_through_a_private_file_that_is_removed(
    generated: tuple[bytes, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, int, bytes]] = []
    original = tls.context_from_files

    def spy(cert_path: tls.PathLike, key_path: tls.PathLike | None = None) -> ssl.SSLContext:
        path = Path(cert_path)
        seen.append((str(path.parent), stat.S_IMODE(path.stat().st_mode), path.read_bytes()))
        return original(cert_path, key_path)

    monkeypatch.setattr(tls, "context_from_files", spy)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    tls.context_from_pem(*generated)
    assert seen == [(str(tmp_path), 0o600, generated[0] + generated[1])]
    assert list(tmp_path.iterdir()) == []


def test_files_with_separate_key(generated: tuple[bytes, bytes], tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(generated[0])
    key.write_bytes(generated[1])
    context = tls.context_from_files(cert, key)
    _handshake(context, _client_trusting(generated[0]), "127.0.0.1")


def test_files_with_chain_and_key_in_the_certificate_file(
    generated: tuple[bytes, bytes], tmp_path: Path
) -> None:
    other_cert, _ = tls.generate_certificate("ca.example.test", [])
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(generated[0] + other_cert + generated[1])  # leaf, chain, key
    context = tls.context_from_files(str(bundle))
    _handshake(context, _client_trusting(generated[0]), "mx.example.test")


def test_a_key_that_does_not_match_is_refused(
    generated: tuple[bytes, bytes], tmp_path: Path
) -> None:
    _, other_key = tls.generate_certificate("x.example.test", [])
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(generated[0])
    key.write_bytes(other_key)
    with pytest.raises(ssl.SSLError):
        tls.context_from_files(cert, key)


def test_a_missing_certificate_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        tls.context_from_files(tmp_path / "missing.pem")


def test_served_names_cover_hostname_hosts_addresses_and_localhost() -> None:
    names = tls.served_names(
        "mx.example.test", ["mx.example.test", "*", "127.0.0.1"], ["127.0.0.1", "fe80::1%eth0"]
    )
    assert names == ["mx.example.test", "127.0.0.1", "localhost", "fe80::1"]


def test_setup_generates_a_certificate_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="smtp_proto.transports"):
        setup = tls.setup(
            cert_path=None,
            key_path=None,
            ssl_context=None,
            common_name=None,
            alt_names=None,
            names=["localhost", "127.0.0.1"],
        )
    assert setup.certificate_pem is not None
    assert [r.getMessage() for r in caplog.records] == [
        "TLS: no certificate given, generated a self-signed one for localhost, 127.0.0.1"
        " (for testing only)"
    ]
    _handshake(setup.context, _client_trusting(setup.certificate_pem), "localhost")


def test_setup_takes_cn_and_san_overrides() -> None:
    setup = tls.setup(
        cert_path=None,
        key_path=None,
        ssl_context=None,
        common_name="smtp.example.test",
        alt_names=["smtp.example.test", "192.0.2.7"],
        names=["localhost"],
    )
    assert setup.certificate_pem is not None
    cert = x509.load_pem_x509_certificate(setup.certificate_pem)
    assert cert.subject.rfc4514_string() == "CN=smtp.example.test"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["smtp.example.test"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.0.2.7")]


def test_setup_uses_a_given_context_as_is() -> None:
    context = tls.new_context()
    setup = tls.setup(
        cert_path=None,
        key_path=None,
        ssl_context=context,
        common_name=None,
        alt_names=None,
        names=["localhost"],
    )
    assert setup == tls.TlsSetup(context, None)


def test_setup_loads_files(generated: tuple[bytes, bytes], tmp_path: Path) -> None:
    path = tmp_path / "both.pem"
    path.write_bytes(generated[0] + generated[1])
    os.chmod(path, 0o600)
    setup = tls.setup(
        cert_path=path,
        key_path=None,
        ssl_context=None,
        common_name=None,
        alt_names=None,
        names=["localhost"],
    )
    assert setup.certificate_pem is None
    _handshake(setup.context, _client_trusting(generated[0]), "::1")
