"""The real server (`infusion-coder serve`: uvicorn, httptools, uvloop and service/server.py's protocol) on a
free local port: header and body read deadlines close slow connections with a JSON 408 (300 trickling
connections were held after 40 s), the parser's own 400 and an oversized header block are JSON error objects
(a malformed Content-Length got a text/plain 400), and `serve --workers 2` serves with the key. The
deadlines are set to 1 s here; the tests wait for them, they do not time anything."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from typer.testing import CliRunner

from infusion_coder.cli import commands as cli
from infusion_coder.service.server import GuardedProtocol

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = (ROOT / "examples" / "ed-visit.json").read_bytes()
LOGS: dict[int, IO[bytes]] = {}  # each started server's stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(*options: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if k != "INFUSION_CODER_API_KEY"}
    log = tempfile.TemporaryFile()  # noqa: SIM115 (the server's log: _stop reads and closes it)
    process = subprocess.Popen(
        [sys.executable, "-m", "infusion_coder", "serve", "--port", str(port), *options],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={**environment, **(env or {})},
    )
    LOGS[process.pid] = log
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with status {process.returncode}: {_stop(process)}")
        try:
            status, _, _ = _exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            if status == 200:
                return process, port
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise AssertionError("serve did not start within 90 s")


def _stop(process: subprocess.Popen[bytes]) -> str:
    """Stop the server; its log (stderr)."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log = LOGS.pop(process.pid)
    log.seek(0)
    text = log.read().decode("utf-8", "replace")
    log.close()
    return text


def _exchange(port: int, data: bytes, *, wait: float = 15.0) -> tuple[int, dict[str, str], bytes]:
    """Send `data`, read until the server closes or one whole answer is in."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        return _read_answer(sock)


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed without an answer: {buffer[:200]!r}")
        buffer += chunk
    head, _, body = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def _is_error_object(body: bytes) -> bool:
    value = json.loads(body)
    return isinstance(value, dict) and set(value) == {"encounter_id", "error"} and "message" in value["error"]


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    process, port = _start("--header-timeout", "1", "--body-timeout", "1")
    yield port
    _stop(process)


def test_a_malformed_content_length_is_a_json_400(server: int) -> None:
    for request in (
        b"POST /v1/code HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /v1/code HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{}",
        b"NOT-HTTP\r\n\r\n",
    ):
        status, headers, body = _exchange(server, request)
        assert status == 400 and headers["content-type"] == "application/json", request
        assert _is_error_object(body) and b"not valid HTTP/1.1" in body


def test_trickling_and_silent_connections_are_closed_at_the_header_deadline(server: int) -> None:
    """Connections sending one header byte every 0.2 s, and connections sending nothing, are answered
    408 and closed by the server once its 1 s header deadline passes; then it serves as before."""
    slow = [socket.create_connection(("127.0.0.1", server), timeout=15) for _ in range(40)]
    silent = [socket.create_connection(("127.0.0.1", server), timeout=15) for _ in range(10)]
    for sock in slow:
        sock.sendall(b"POST /v1/code HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    closed: set[int] = set()
    answers: dict[int, bytes] = {}
    for _ in range(100):  # at most 20 s; the deadline is 1 s
        for number, sock in enumerate(slow):
            if number in closed:
                continue
            try:
                sock.sendall(b"a")
            except OSError:
                closed.add(number)
                continue
            sock.setblocking(False)
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                data = None
            finally:
                sock.setblocking(True)
            if data is not None:
                answers[number] = answers.get(number, b"") + data
                if not data:
                    closed.add(number)
        if len(closed) == len(slow):
            break
        time.sleep(0.2)
    assert len(closed) == len(slow), f"{len(slow) - len(closed)} trickling connections still held"
    assert all(b" 408 " in answers.get(n, b"") for n in closed if answers.get(n)), answers
    for sock in silent:
        status, _, body = _read_answer(sock)
        assert status == 408 and _is_error_object(body) and b"did not arrive within 1 s" in body
        assert sock.recv(10) == b""  # and closed
    for sock in slow + silent:
        sock.close()
    status, _, _ = _exchange(server, _post(EXAMPLE))
    assert status == 200


def test_a_body_that_stops_arriving_is_answered_408(server: int) -> None:
    request = b"POST /v1/code HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"
    status, headers, body = _exchange(server, request)
    assert status == 408 and headers["content-type"] == "application/json"
    assert _is_error_object(body) and b"body did not arrive within 1 s" in body


def test_a_header_block_over_64_kib_is_a_json_431(server: int) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    status, _, body = _exchange(server, request)
    assert status == 431 and _is_error_object(body) and b"65536 bytes" in body


def test_keep_alive_requests_are_served_one_after_another(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=15) as sock:
        for _ in range(3):
            sock.sendall(_post(EXAMPLE))
            status, _, body = _read_answer(sock)
            assert status == 200 and json.loads(body)["encounter_id"] == "ED-1001"
            time.sleep(0.6)  # each request's own header deadline starts with its first byte


def _post(body: bytes, key: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {key}\r\n".encode() if key else b""
    return (
        b"POST /v1/code HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + auth
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


def test_serve_with_two_workers_keeps_the_key_and_the_log() -> None:
    """Each worker checks the key and writes the service's log line (the workers had no log handler)."""
    process, port = _start("--workers", "2", env={"INFUSION_CODER_API_KEY": "k-9"})
    try:
        status, headers, body = _exchange(port, _post(EXAMPLE))
        assert status == 401 and headers["www-authenticate"] == "Bearer" and _is_error_object(body)
        answers = {_exchange(port, _post(EXAMPLE, "k-9"))[0] for _ in range(6)}
        assert answers == {200}
    finally:
        log = _stop(process)
    lines = [line for line in log.splitlines() if "infusion_coder.service request_id=" in line]
    assert any("status=401" in line for line in lines)
    assert sum("method=POST path=/v1/code status=200 records=1" in line for line in lines) == 6
    assert "k-9" not in log and "ED-1001" not in log


def test_serve_options_reach_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: started.append((app, kwargs)))
    for name in ("INFUSION_CODER_API_KEY", "INFUSION_CODER_HEADER_TIMEOUT", "INFUSION_CODER_BODY_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    refused = CliRunner().invoke(cli.app, ["serve", "--host", "0.0.0.0", "--workers", "2"])
    assert refused.exit_code == 2 and "INFUSION_CODER_API_KEY" in refused.output and not started
    for bad in (["--workers", "0"], ["--header-timeout", "0"], ["--body-timeout", "-1"]):
        assert CliRunner().invoke(cli.app, ["serve", *bad]).exit_code == 2
    assert not started
    run = CliRunner().invoke(
        cli.app, ["serve", "--workers", "3", "--header-timeout", "4", "--body-timeout", "30"]
    )
    assert run.exit_code == 0 and "3 worker processes" in run.output
    app, options = started[-1]
    assert app == "infusion_coder.service:app_from_environment" and options["factory"] is True
    assert options["workers"] == 3 and options["http"] is GuardedProtocol and options["host"] == "127.0.0.1"
    assert options["log_config"]["loggers"]["infusion_coder"]["level"] == "INFO"  # set up in each worker
    assert os.environ["INFUSION_CODER_HEADER_TIMEOUT"] == "4.0"
    assert os.environ["INFUSION_CODER_BODY_TIMEOUT"] == "30.0"
    one = CliRunner().invoke(cli.app, ["serve"])
    assert one.exit_code == 0 and "1 worker process" in one.output
    assert not isinstance(started[-1][0], str) and started[-1][1]["http"] is GuardedProtocol
