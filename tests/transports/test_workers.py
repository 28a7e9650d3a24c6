"""Worker processes sharing one port: `run_workers` for embedders, and giving up on a
worker that dies at every start (for `serve --workers` too)."""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from smtp_proto import ServerConfig
from smtp_proto.handlers import MaildirHandler
from tests.transports.transport_support import TIMEOUT, free_port
from transports import supervisor
from transports.base import ServerBase
from transports.threaded import Server


def make_server(port: int, maildir: str, number: int) -> ServerBase:
    """What an application's factory looks like: each worker says its number in its name."""
    config = ServerConfig(hostname=f"worker{number}.example.test")
    return Server(
        MaildirHandler(maildir), ports=port, hosts="127.0.0.1", config=config, reuse_port=True
    )


def broken_server(number: int) -> ServerBase:
    raise RuntimeError(f"worker {number} cannot start")


def greeting(port: int) -> str:
    """The greeting's host name (the worker's), retried while the workers start."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
                return sock.makefile("rb").readline().decode().split()[1]
        except (ConnectionRefusedError, ConnectionResetError, IndexError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_run_workers_share_a_port_replace_a_dead_one_and_stop_together(tmp_path: Path) -> None:
    port, maildir = free_port(), tmp_path / "mail"
    factory = functools.partial(make_server, port, str(maildir))
    stop, status = threading.Event(), []
    runner = threading.Thread(
        target=lambda: status.append(supervisor.run_workers(factory, 2, stop=stop))
    )
    runner.start()
    try:
        both, names = {"worker1.example.test", "worker2.example.test"}, set[str]()
        deadline = time.monotonic() + TIMEOUT
        while names != both:  # both serve, each once it has started
            names.add(greeting(port))
            assert names <= both
            assert time.monotonic() < deadline, f"only {names} served"
        children = multiprocessing.active_children()
        victim = next(p.pid for p in children if p.name == "worker 1")
        assert victim is not None
        # A worker killed outright resets what waits in its own accept queue (the system
        # shared those connections out to it): clients come back once it is replaced.
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + TIMEOUT
        while "worker1.example.test" not in {greeting(port) for _ in range(20)}:
            assert time.monotonic() < deadline, "worker 1 was not replaced"
        for n in range(20):
            with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as client:
                message = f"Subject: m{n}\r\n\r\nhi\r\n"
                client.sendmail("a@example.test", ["b@example.test"], message)
    finally:
        stop.set()
        runner.join(TIMEOUT)
    assert status == [0]  # the replacement and worker 2 stopped cleanly
    assert len(list((maildir / "new").iterdir())) == 20


def test_a_worker_that_dies_at_every_start_makes_the_supervisor_give_up(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(supervisor, "_RESTART_PAUSE", 0.0)
    caplog.set_level(logging.INFO, "smtp_proto")
    assert supervisor.run_workers(broken_server, 2, stop=threading.Event()) == 1
    gave_up = [r.message for r in caplog.records if "giving up" in r.message]
    assert len(gave_up) == 1
    assert "5 times at its start" in gave_up[0]


def test_serve_workers_give_up_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:  # no SO_REUSEPORT: no worker can bind beside it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        command = [sys.executable, "-m", "transports", "serve", "--workers", "2"]
        command += ["--port", port, "--maildir", str(tmp_path / "mail")]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    assert done.returncode == 1
    assert "giving up" in done.stderr
    assert "Traceback" not in done.stderr
