"""`smtp-proto serve` (run as `python -m transports` in a subprocess) and its option errors."""

from __future__ import annotations

import http.server
import importlib.metadata
import mailbox
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.transports.transport_support import TIMEOUT, free_port
from transports import tls
from transports.cli import main
from transports.pytest_plugin import SmtpTestServer

BODY = b"Subject: via serve\r\nFrom: a@example.test\r\n\r\nstored\r\n"
LISTENING = re.compile(r"listening on (\S+):(\d+)( \(tls\))?$")


class Serve:
    """A running `python -m transports serve` and what its log said."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.listeners: list[tuple[str, int, bool]] = []
        self.log: list[str] = []

    def read_until(self, text: str) -> str:
        """Log lines up to and including the first one containing `text`."""
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))
            if found := LISTENING.search(self.log[-1]):
                host = found.group(1).strip("[]")
                self.listeners.append((host, int(found.group(2)), bool(found.group(3))))
            if text in line:
                return line
        raise AssertionError(f"serve ended without logging {text!r}: {self.log}")

    def address(self, *, tls: bool = False) -> tuple[str, int]:
        return next((host, port) for host, port, on in self.listeners if on == tls)

    def stop(self) -> int:
        """SIGTERM, then the exit status (the rest of the log is read)."""
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.stderr is not None
        self.log += self.proc.stderr.read().splitlines()
        return self.proc.wait(TIMEOUT)


@contextmanager
def serve(*options: str, listeners: int = 1) -> Iterator[Serve]:
    """Run serve (on port 0 unless `--listen` is given) until it logged its listeners."""
    port = [] if "--listen" in options else ["--port", "0"]
    command = [sys.executable, "-m", "transports", "serve", *port, *options]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as proc:  # noqa: S603
        running = Serve(proc)
        try:
            for _ in range(listeners):
                running.read_until("listening on")
            yield running
        finally:
            if proc.poll() is None:
                proc.kill()


def stored(path: Path) -> list[mailbox.MaildirMessage]:
    return list(mailbox.Maildir(path, create=False))


def test_serve_stores_messages_into_a_maildir(tmp_path: Path) -> None:
    maildir = tmp_path / "mail"
    with serve("--maildir", str(maildir)) as server:
        assert server.listeners[0][0] == "127.0.0.1"
        with smtplib.SMTP(*server.address(), timeout=TIMEOUT) as client:
            client.sendmail("a@example.test", ["b@example.test"], BODY)
            client.sendmail("c@example.test", ["d@example.test", "e@example.test"], BODY)
        server.read_until("from=<a@example.test> to=<b@example.test>")
        server.read_until("from=<c@example.test> to=<d@example.test>,<e@example.test>")
        assert server.stop() == 0
    messages = stored(maildir)
    assert len(messages) == 2
    [first] = [m for m in messages if "for <b@example.test>" in m["Received"]]
    assert first["Subject"] == "via serve"
    assert first.get_payload() == "stored\n"
    assert first["Received"].startswith("from [127.0.0.1] ([127.0.0.1])")
    assert sum("accepted" in line for line in server.log) == 2
    assert any("serving on the threads engine" in line for line in server.log)  # the default


def test_serve_behind_a_proxy_stores_the_client_it_names(tmp_path: Path) -> None:
    maildir = tmp_path / "mail"
    with serve("--maildir", str(maildir), "--proxy-protocol", "v1") as server:
        with socket.create_connection(server.address(), timeout=TIMEOUT) as sock:
            client = sock.makefile("rb")
            sock.sendall(b"PROXY TCP4 192.0.2.9 198.51.100.2 56324 25\r\nHELO c.example\r\n")
            assert client.readline().startswith(b"220 ")
            assert client.readline().startswith(b"250 ")
            sock.sendall(b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")
            assert [client.readline()[:3] for _ in range(3)] == [b"250", b"250", b"354"]
            sock.sendall(b"Subject: proxied\r\n\r\nhi\r\n.\r\nQUIT\r\n")
            assert client.readline().startswith(b"250 ")
        server.read_until("from=<a@example.test> to=<b@example.test>")
        assert server.stop() == 0
    [message] = stored(maildir)
    assert message["Received"].startswith("from c.example ([192.0.2.9])")


def test_serve_takes_xclient_from_a_trusted_front_end(tmp_path: Path) -> None:
    maildir = tmp_path / "mail"
    with serve("--maildir", str(maildir), "--xclient-trusted", "127.0.0.0/8") as server:
        with smtplib.SMTP(*server.address(), timeout=TIMEOUT) as front:
            front.ehlo("front.example")
            assert front.has_extn("xclient")
            assert front.docmd("XCLIENT", "NAME=mx.client.example ADDR=192.0.2.9")[0] == 220
            front.ehlo_resp = None
            front.ehlo("client.example")
            front.sendmail("a@example.test", ["b@example.test"], BODY)
        server.read_until("XCLIENT from 127.0.0.1: the client is mx.client.example[192.0.2.9]")
        assert server.stop() == 0
    [message] = stored(maildir)
    assert message["Received"].startswith("from client.example (mx.client.example [192.0.2.9])")


def send_one(address: tuple[str, int], subject: str) -> None:
    with smtplib.SMTP(*address, timeout=TIMEOUT) as client:
        message = f"Subject: {subject}\r\n\r\nhi\r\n"
        client.sendmail("a@example.test", ["b@example.test"], message)


def test_serve_workers_share_the_port_replace_a_dead_one_and_stop_together(
    tmp_path: Path,
) -> None:
    maildir = tmp_path / "mail"
    port = str(free_port())
    with serve("--workers", "2", "--port", port, "--maildir", str(maildir), listeners=2) as server:
        pids = {int(m.group(1)): int(m.group(2)) for line in server.log
                if (m := re.search(r"worker (\d) started \(pid (\d+)\)", line))}  # fmt: skip
        assert sorted(pids) == [1, 2]
        for n in range(30):
            send_one(server.address(), f"m{n}")
        os.kill(pids[1], signal.SIGKILL)  # a worker dies: another takes its place
        server.read_until("worker 1 (pid")
        server.read_until("worker 1 serving on")
        for n in range(30, 40):
            send_one(server.address(), f"m{n}")
        assert server.stop() == 0
    workers = {m.group(1) for line in server.log if (m := re.search(r"worker (\d) \[", line))}
    assert workers == {"1", "2"}  # both took connections (30 to one alone: 2 in a billion)
    assert len(stored(maildir)) == 40  # one Maildir for all
    assert any("worker 2 stopped" in line for line in server.log)
    assert server.log[-1].endswith("INFO stopped")


def test_serve_workers_need_fixed_ports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "--workers", "2", "--port", "0"]) == 2
    assert "--workers needs fixed ports" in capsys.readouterr().err
    assert main(["serve", "--workers", "none"]) == 2
    assert "--workers none: a positive number or auto" in capsys.readouterr().err


def test_serve_limits_and_verbose_logging(tmp_path: Path) -> None:
    options = ["--maildir", str(tmp_path / "m"), "--max-connections", "1", "--max-size", "4096"]
    with serve(*options, "--max-processings", "1", "-v", "--hostname", "mx.example.test") as server:
        with smtplib.SMTP(*server.address(), timeout=TIMEOUT) as client:
            code, text = client.ehlo()
            assert (code, text.splitlines()[0]) == (250, b"mx.example.test Hello [127.0.0.1]")
            assert client.esmtp_features["size"] == "4096"
            with socket.create_connection(server.address(), timeout=TIMEOUT) as extra:
                assert extra.recv(100) == b"421 4.3.2 Too many connections, try again later\r\n"
        server.read_until("connection closed")
        assert server.stop() == 0
    assert any(" DEBUG " in line for line in server.log)


def test_serve_silent_clients_hold_no_door_shut_and_time_out(tmp_path: Path) -> None:
    options = ["--maildir", str(tmp_path / "m"), "--cmd-timeout", "0.5"]
    with serve(*options, "--max-processings", "1") as server:
        silent = [socket.create_connection(server.address(), timeout=TIMEOUT) for _ in range(4)]
        try:
            with smtplib.SMTP(*server.address(), timeout=TIMEOUT) as client:
                client.sendmail("a@example.org", ["b@example.test"], "Subject: s\r\n\r\nhi\r\n")
            for sock in silent:
                reply = sock.makefile("rb").read()  # the greeting, then the time-out
                assert reply.endswith(b"421 4.4.2 Timeout, closing transmission channel\r\n")
        finally:
            for sock in silent:
                sock.close()
        assert server.stop() == 0
    assert len(list((tmp_path / "m" / "new").iterdir())) == 1


def test_serve_with_starttls_implicit_tls_and_auth(tmp_path: Path) -> None:
    maildir = tmp_path / "mail"
    accounts = tmp_path / "accounts"
    accounts.write_text("# user:password\nbob:hunter2\n\n", encoding="utf-8")
    options = ["--maildir", str(maildir), "--tls", "required", "--tls-implicit", "0"]
    options += ["--auth", "alice:s3:cr3t", "--auth-file", str(accounts), "--auth-required"]
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE  # the certificate is generated inside serve
    with serve(*options, listeners=2) as server:
        assert any("self-signed" in line for line in server.log)
        with smtplib.SMTP(*server.address(), timeout=TIMEOUT) as client:
            client.ehlo()
            assert client.mail("alice@example.test")[0] == 530  # TLS first
            client.starttls(context=unverified)
            client.login("alice", "s3:cr3t")
            client.sendmail("alice@example.test", ["b@example.test"], BODY)
        with smtplib.SMTP_SSL(*server.address(tls=True), context=unverified) as client:
            with pytest.raises(smtplib.SMTPAuthenticationError):
                client.login("bob", "wrong")
            client.login("bob", "hunter2")
            client.sendmail("bob@example.test", ["b@example.test"], BODY)
        accepted = server.read_until("from=<bob@example.test>")
        assert server.stop() == 0
    assert accepted.endswith(" client=[127.0.0.1] user=bob tls=yes\n")
    assert any(" MAIL refused by the server: 530 " in line for line in server.log)  # no -v
    refused = [line for line in server.log if " refused: 535 " in line]  # one per mechanism
    assert refused  # visible without -v, with who and how
    assert all(line.endswith("for 'bob') client=[127.0.0.1] tls=yes") for line in refused)
    protocols = [re.search(r" with (\S+) ", m["Received"]) for m in stored(maildir)]
    assert [found.group(1) for found in protocols if found] == ["ESMTPSA", "ESMTPSA"]
    assert not any("hunter2" in line or "s3:cr3t" in line for line in server.log)


def test_serve_stops_on_ctrl_c(tmp_path: Path) -> None:
    with serve("--maildir", str(tmp_path / "mail")) as server:
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(TIMEOUT) == 0
        assert server.proc.stderr is not None
        assert "Traceback" not in server.proc.stderr.read()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["serve", "--port", "abc"], "bad port 'abc': expected a number 0..65535"),
        (["serve", "--host", ""], "bad host '' in ''"),
        (["serve", "--max-processings", "0"], "argument --max-processings: '0' is not a whole"),
        (["serve", "--max-connections", "x"], "argument --max-connections: 'x' is not a whole"),
        (["serve", "--cmd-timeout", "0"], "argument --cmd-timeout: '0' is not a positive number"),
        (["serve", "--data-timeout", "-1"], "argument --data-timeout: '-1' is not a positive"),
        (["serve", "--tls-timeout", "inf"], "argument --tls-timeout: 'inf' is not a positive"),
        (["serve", "--processing-wait", "0"], "argument --processing-wait: '0' is not a positive"),
        (["serve", "--relay-timeout", "x"], "argument --relay-timeout: 'x' is not a positive"),
        (
            ["serve", "--max-size", "0"],
            "argument --max-size: '0' is not a whole number of at least 1",
        ),
        (
            ["serve", "--hostname", "a b"],
            "argument --hostname: 'a b': hostname must not contain spaces",
        ),
        (["serve", "--tls", "maybe"], "argument --tls: invalid choice: 'maybe'"),
        (["serve", "--listen", "::1:2525"], "write IPv6 addresses in brackets"),
        (["serve", "--listen", "[::1]:2525", "--port", "25"], "cannot be combined"),
        (["serve", "--key", "key.pem"], "--key needs --cert"),
        (["serve", "--cert", "cert.pem"], "--cert needs --tls optional|required"),
        (["serve", "--auth", "alice"], "--auth alice:...: expected USER:PASSWORD"),
        (["serve", "--auth-required"], "--auth-required needs --auth or --auth-file"),
        (["serve", "--auth-file", "missing.txt"], "--auth-file missing.txt:"),
        (["serve", "--transport", "carrier-pigeon"], "argument --transport: invalid choice"),
        (["serve", "--bogus"], "unrecognized arguments: --bogus"),
        (
            ["serve", "--proxy-protocol", "v1", "--proxy-trusted", "10.0.0.1/8"],
            "--proxy-trusted 10.0.0.1/8: 10.0.0.1/8 has host bits set",
        ),
        (["serve", "--proxy-protocol", "v3"], "argument --proxy-protocol: invalid choice"),
        (["serve", "--xclient-trusted", "10.0.0.0/33"], "--xclient-trusted 10.0.0.0/33: "),
    ],
)
def test_bad_options_give_one_line_and_status_2(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("smtp-proto: error: ")
    assert message in err
    assert list(tmp_path.iterdir()) == []  # no Maildir made for a refused command


def test_a_taken_port_gives_one_line_and_status_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status = main(["serve", "--port", str(port), "--maildir", str(tmp_path / "m")])
    assert status == 1
    _, err = capsys.readouterr()
    assert err == (
        f"smtp-proto: error: [Errno 98] cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


def test_listen_options_pair_hosts_and_ports(tmp_path: Path) -> None:
    listen = ["--listen", "127.0.0.1:0", "--listen", "[::1]:0"]
    with serve("--maildir", str(tmp_path / "m"), *listen, listeners=2) as server:
        assert [host for host, _, _ in server.listeners] == ["127.0.0.1", "::1"]
        assert server.stop() == 0


def test_version_names_the_installed_release(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"smtp-proto {importlib.metadata.version('smtp-proto')}\n"


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == 0
    assert "--tls-implicit PORTS" in capsys.readouterr().out


def test_check_runs_the_conformance_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--list"]) == 0
    assert capsys.readouterr().out.strip()


@pytest.fixture
def pem_files(tmp_path: Path) -> Path:
    """cert.pem with key.pem, other.pem (another certificate), locked.pem (key.pem encrypted)
    and both.pem (certificate and key in one file), in a folder of their own."""
    folder = tmp_path / "pem"
    folder.mkdir()
    cert, key = tls.generate_certificate("localhost", ["localhost"])
    other, _ = tls.generate_certificate("localhost", ["localhost"])
    loaded = serialization.load_pem_private_key(key, password=None)
    locked = loaded.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    files = {"cert": cert, "key": key, "other": other, "locked": locked, "both": cert + key}
    for name, data in files.items():
        (folder / f"{name}.pem").write_bytes(data)
    (folder / "plain.txt").write_text("not a certificate\n")
    return folder


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--cert", "missing.pem"], "--cert {pem}/missing.pem: No such file or directory"),
        (["--cert", "plain.txt"], "--cert {pem}/plain.txt: no PEM certificate in it"),
        (
            ["--cert", "cert.pem"],
            "--cert {pem}/cert.pem: no private key in it; name one with --key",
        ),
        (["--cert", "cert.pem", "--key", "gone.pem"], "--key {pem}/gone.pem: No such file"),
        (["--cert", "cert.pem", "--key", "other.pem"], "--key {pem}/other.pem: no PEM private key"),
        (
            ["--cert", "other.pem", "--key", "key.pem"],
            "--cert {pem}/other.pem and --key {pem}/key.pem: the key does not belong to the cert",
        ),
        (
            ["--cert", "cert.pem", "--key", "locked.pem"],
            "the key is encrypted; give an unencrypted",
        ),
        (
            ["--maildir", "plain.txt"],
            "--maildir {pem}/plain.txt: {pem}/plain.txt is not a directory",
        ),
        (
            ["--relay", "mx.example.test:0"],
            "--relay mx.example.test:0: bad port '0', expected 1..65535",
        ),
        (["--relay", ":25"], "--relay :25: expected HOST[:PORT]"),
        (["--relay-auth", "u:p"], "--relay-auth needs --relay HOST[:PORT]"),
        (["--relay", "mx", "--relay-auth", "u"], "--relay-auth u:...: expected USER:PASSWORD"),
        (
            ["--relay", "mx", "--relay-auth", "u:p", "--relay-tls", "off"],
            "--relay-auth needs --relay-tls",
        ),
        (
            ["--relay", "mx", "--relay-ca", "plain.txt"],
            "--relay-ca {pem}/plain.txt: no CA certificate",
        ),
        (
            ["--relay", "mx", "--maildir", "m"],
            "--relay forwards instead of storing: drop --maildir",
        ),
        (["--relay", "mx", "--transport", "gevent"], "use --transport threads"),
        (["--relay", "mx", "--relay-lmtp", "--relay-tls", "implicit"], "not implicit TLS"),
    ],
)
def test_errors_name_the_file_or_value(
    options: list[str],
    message: str,
    pem_files: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(pem_files)
    tls_on = ["--tls", "optional"] if "--cert" in options else []
    paths = [str(pem_files / o) if o.endswith((".pem", ".txt")) else o for o in options]
    assert main(["serve", "--port", "0", *tls_on, *paths]) == 2
    out, err = capsys.readouterr()
    assert (out, err.count("\n")) == ("", 1)
    assert message.format(pem=pem_files) in err
    assert not (pem_files / "maildir").exists()


@pytest.mark.parametrize(("engine", "module"), [("trio", "trio"), ("gevent", "gevent")])
def test_a_missing_engine_names_the_extra_to_install(
    engine: str,
    module: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    monkeypatch.delitem(sys.modules, "transports.green", raising=False)
    assert main(["serve", "--port", "0", "--transport", engine]) == 2
    assert capsys.readouterr().err == (
        f"smtp-proto: error: --transport {engine} needs {module}, which is not installed:"
        f" pip install 'smtp-proto[{engine}]'\n"
    )


class _Silent(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def http_server() -> Iterator[int]:
    """A web server on 127.0.0.1 that waits for a request, as they do; yields its port."""
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Silent) as web:
        thread = threading.Thread(target=web.serve_forever)
        thread.start()
        try:
            yield web.server_address[1]
        finally:
            web.shutdown()
            thread.join()


@contextmanager
def blurting_server(line: bytes) -> Iterator[int]:
    """Sends `line` to each client at once and hangs up; yields its port."""
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(line)

        thread = threading.Thread(target=answer)
        thread.start()
        try:
            yield listener.getsockname()[1]
        finally:
            thread.join()


@pytest.mark.parametrize(
    ("peer", "said"),
    [
        (http_server, "'<!DOCTYPE HTML>'"),
        (
            lambda: blurting_server(b"HTTP/1.1 400 Bad Request\r\n\r\n"),
            "'HTTP/1.1 400 Bad Request'",
        ),
    ],
)
def test_check_tells_a_web_server_from_an_smtp_server(
    peer: Callable[[], AbstractContextManager[int]], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    with peer() as port:
        assert main(["check", f"127.0.0.1:{port}"]) == 1
    assert time.monotonic() - started < 5  # not the 10 s of a reply time-out
    assert capsys.readouterr().err == (
        f"cannot grade 127.0.0.1:{port}: no SMTP greeting (the peer said {said})\n"
    )


def test_serve_greets_and_stamps_received_with_one_name(tmp_path: Path) -> None:
    maildir = tmp_path / "mail"
    with serve("--maildir", str(maildir)) as server:
        with smtplib.SMTP(timeout=TIMEOUT) as client:
            code, greeting = client.connect(*server.address())
            client.sendmail("a@example.test", ["b@example.test"], BODY)
        server.read_until("accepted")
        assert server.stop() == 0
    name = greeting.split()[0].decode()
    assert (code, name) == (220, socket.gethostname())
    [message] = stored(maildir)
    assert f"by {name} (smtp-proto)" in " ".join(message["Received"].split())


def test_serve_relays_to_an_upstream(smtp_server_factory: Callable[..., SmtpTestServer]) -> None:
    upstream = smtp_server_factory(refuse={"gone@example.test": (550, "No such user")})
    relay = ["--relay", f"127.0.0.1:{upstream.port}", "--relay-tls", "off"]
    with serve(*relay, "--hostname", "relay.example.test") as server:
        with smtplib.SMTP(*server.address(), timeout=TIMEOUT) as client:
            assert "binarymime" not in client.ehlo()[1].decode().lower()
            refused = client.sendmail(
                "a@example.test", ["b@example.test", "gone@example.test"], BODY
            )
        server.read_until("accepted")
        assert server.stop() == 0
    assert refused == {"gone@example.test": (550, b"5.0.0 No such user")}
    [mail] = upstream.wait_for(1)
    assert (mail.rcpt_to, mail.helo) == (("b@example.test",), "relay.example.test")
    assert "by relay.example.test (smtp-proto)" in " ".join(mail.message["Received"].split())


def test_check_tells_an_implicit_tls_port_to_use_tls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = ["--maildir", str(tmp_path / "m"), "--tls-implicit", "0"]
    with serve(*options, listeners=2) as server:
        host, port = server.address(tls=True)
        started = time.monotonic()
        assert main(["check", f"{host}:{port}"]) == 1
        assert time.monotonic() - started < 5
        assert server.stop() == 0
    assert capsys.readouterr().err == (
        f"cannot grade {host}:{port}: no SMTP greeting"
        " (the peer waits for TLS: try --tls-implicit)\n"
    )
