"""Load test of the HTTP service: concurrent clients posting gold encounters, where the time goes, then
hostile traffic (malformed requests, trickling connections), with the server's CPU and memory.

    python scripts/load_test.py                          # `infusion-coder serve`, 1 worker, 50 clients, 20 s
    python scripts/load_test.py --workers 2              # serve --workers 2
    python scripts/load_test.py --target bare --workers 2   # a bare ASGI app around the same code_record
    python scripts/load_test.py --breakdown              # also: per-request CPU of each layer, in process
    python scripts/load_test.py --trickle 300            # also: 300 connections trickling their headers
    python scripts/load_test.py --url http://127.0.0.1:8000 --pid 1234   # a running server (localhost only)

The clients are one process of raw keep-alive HTTP/1.1 connections (asyncio protocols, no HTTP library), so
that on a small machine the client takes little of the CPU the server needs; its own CPU is printed too.
Each distinct body's first answer is checked against `Coder.code_record` (the same JSON values).

Prints, for the gold phase: requests per second, p50/p99 latency, errors, the server's CPU per request
(all its processes) and the client's. `--breakdown` prints the CPU per request of the engine alone, of the
bare ASGI app and of the service's app called in process (no HTTP), and the server's figure over HTTP: the
differences are JSON and framework overhead, and the HTTP server's share. Exit status 1 if any gold
request failed or answered differently, a malformed request got a 5xx, or a trickling connection outlived
the server's header timeout by more than 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
CASES = sorted((ROOT.parent / "shared" / "cases").glob("*.jsonl"))
LOCAL = ("127.0.0.1", "localhost", "::1")


def encounters() -> list[dict[str, Any]]:
    found = [
        json.loads(line)["encounter"]
        for path in CASES
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    return found or [json.loads(path.read_text()) for path in sorted((ROOT / "examples").glob("*.json"))]


# --- the bare ASGI baseline -------------------------------------------------------------------------


class BareApp:
    """The least an HTTP front of `Coder.code_record` can do: read the body, parse it, code it, write the
    result with orjson. No limits, no key, no framework: the floor the service's overhead is measured from."""

    def __init__(self) -> None:
        self.coder: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    from infusion_coder import Coder

                    self.coder = Coder.default()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        import orjson

        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/healthz":
            out, status = b'{"status":"ok"}', 200
        else:
            result = self.coder.code_record(json.loads(body))
            out, status = orjson.dumps(result.model_dump(mode="json")), 200
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(out))],
            }
        )
        await send({"type": "http.response.body", "body": out})


bare_app = BareApp()


def serve_bare(port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "load_test:bare_app",
        app_dir=str(Path(__file__).resolve().parent),
        host="127.0.0.1",
        port=port,
        workers=workers,
        http="httptools",
        loop="uvloop",
        access_log=False,
        log_level="warning",
    )


# --- servers and their CPU --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    target: str, workers: int, header_timeout: float | None
) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "INFUSION_CODER_API_KEY"}
    if target == "bare":
        command = [sys.executable, __file__, "--serve-bare", str(port), "--workers", str(workers)]
    else:
        command = [
            sys.executable,
            "-m",
            "infusion_coder",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        if header_timeout is not None:
            command += ["--header-timeout", str(header_timeout)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with status {process.returncode}")
        try:
            if asyncio.run(_get(port, "/healthz"))[0] == 200:
                time.sleep(2 if workers > 1 else 0)  # let every worker finish loading
                return url, process
        except OSError:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit("the server did not start within 90 s")


def tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return found


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU of a process and its descendants (uvicorn's workers), from /proc (Linux)."""
    if pid is None:
        return None
    total = 0.0
    for member in tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int | None) -> int | None:
    if pid is None:
        return None
    total = 0
    for member in tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system


# --- a lean HTTP/1.1 client -------------------------------------------------------------------------


class Connection(asyncio.Protocol):
    """One keep-alive connection: write a request, wait for its whole answer (Content-Length or chunked)."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return  # nobody waits: keep the bytes for whoever looks
        answer = self._answer()
        if answer is not None:
            self.waiter.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))

    def _answer(self) -> tuple[int, bytes] | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).lower()
        status = int(head[9:12])
        start = end + 4
        marker = head.find(b"content-length:")
        if marker >= 0:
            length = int(head[marker + 15 :].split(b"\r\n", 1)[0])
            if len(self.buffer) < start + length:
                return None
            body = bytes(self.buffer[start : start + length])
            del self.buffer[: start + length]
            return status, body
        if not self.buffer.endswith(b"0\r\n\r\n"):  # chunked: a streamed answer
            return None
        body, position = bytearray(), start
        while True:
            line_end = self.buffer.index(b"\r\n", position)
            size = int(self.buffer[position:line_end], 16)
            if size == 0:
                break
            body += self.buffer[line_end + 2 : line_end + 2 + size]
            position = line_end + 4 + size
        del self.buffer[:]
        return status, bytes(body)

    async def request(self, data: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


def request_bytes(method: str, path: str, body: bytes = b"", key: str | None = None) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    if key:
        head += f"Authorization: Bearer {key}\r\n"
    return head.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body


async def _get(port: int, path: str) -> tuple[int, bytes]:
    loop = asyncio.get_running_loop()
    transport, connection = await loop.create_connection(Connection, "127.0.0.1", port)
    try:
        return await asyncio.wait_for(connection.request(request_bytes("GET", path)), 5)
    finally:
        transport.close()


async def gold_phase(
    port: int, clients: int, seconds: float, records: list[dict[str, Any]], key: str | None
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    bodies = [json.dumps(record).encode() for record in records]
    requests = [request_bytes("POST", "/v1/code", body, key) for body in bodies]
    first: dict[int, tuple[int, bytes]] = {}
    loop = asyncio.get_running_loop()
    stop = time.monotonic() + seconds

    async def client(number: int) -> None:
        transport, connection = await loop.create_connection(Connection, "127.0.0.1", port)
        index = number
        try:
            while time.monotonic() < stop:
                which = index % len(requests)
                index += clients
                began = time.perf_counter()
                try:
                    status, body = await connection.request(requests[which])
                except ConnectionError:
                    errors["connection closed"] += 1
                    transport, connection = await loop.create_connection(Connection, "127.0.0.1", port)
                    continue
                latencies.append(time.perf_counter() - began)
                first.setdefault(which, (status, body))
                if status >= 500:
                    errors[f"HTTP {status}"] += 1
        finally:
            transport.close()

    cpu_began, began = own_cpu(), time.perf_counter()
    await asyncio.gather(*(client(number) for number in range(clients)))
    elapsed, client_cpu = time.perf_counter() - began, own_cpu() - cpu_began
    mismatches = _check_answers(records, first)
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": dict(errors),
        "mismatches": mismatches,
        "seconds": elapsed,
        "client_cpu": client_cpu,
        "throughput": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if latencies else 0.0,
    }


def _check_answers(records: list[dict[str, Any]], first: dict[int, tuple[int, bytes]]) -> int:
    """Each distinct body's first answer against the library's result (status and JSON values)."""
    from infusion_coder import Coder
    from infusion_coder.models import ErrorResult

    coder = Coder.default()
    mismatches = 0
    for which, (status, body) in first.items():
        expected = coder.code_record(records[which])
        want = 422 if isinstance(expected, ErrorResult) else 200
        if status != want or json.loads(body) != expected.model_dump(mode="json"):
            mismatches += 1
    return mismatches


# --- where the time goes (in process, no HTTP) ------------------------------------------------------


def breakdown(records: list[dict[str, Any]], rounds: int = 5) -> dict[str, float]:
    """CPU microseconds per request of each layer, best of `rounds`, over the gold encounters."""
    import orjson

    from infusion_coder import Coder
    from infusion_coder.service import create_app

    coder = Coder.default()
    app = create_app(coder)
    bodies = [json.dumps(record).encode() for record in records]

    def engine() -> None:
        for body in bodies:
            coder.code_record(json.loads(body))

    def with_json() -> None:
        for body in bodies:
            orjson.dumps(coder.code_record(json.loads(body)).model_dump(mode="json"))

    async def through(asgi: Any) -> None:
        for body in bodies:
            sent: list[dict[str, Any]] = []
            delivered = False

            async def receive(body: bytes = body) -> dict[str, Any]:
                nonlocal delivered
                if delivered:
                    return {"type": "http.disconnect"}
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any], sent: list[dict[str, Any]] = sent) -> None:
                sent.append(message)

            delivered = False
            scope = {
                "type": "http",
                "asgi": {"version": "3.0", "spec_version": "2.3"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": "/v1/code",
                "raw_path": b"/v1/code",
                "query_string": b"",
                "root_path": "",
                "headers": [(b"content-type", b"application/json"), (b"host", b"127.0.0.1")],
                "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 80),
                "state": {},
            }
            await asgi(scope, receive, send)
            assert sent[0]["status"] in (200, 422), sent[0]

    async def bare_asgi() -> None:
        bare = BareApp()
        bare.coder = coder
        await through(bare)

    steps = {
        "engine (code_record on a parsed dict)": engine,
        "+ JSON in and out (orjson)": with_json,
        "bare ASGI app": lambda: asyncio.run(bare_asgi()),
        "service app (Guard, routing, limits)": lambda: asyncio.run(through(app)),
    }
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, step in steps.items():
            began = time.process_time()
            step()
            spent = (time.process_time() - began) / len(bodies) * 1e6
            best[name] = min(best.get(name, spent), spent)
    return best


# --- hostile traffic ----------------------------------------------------------------------------------

MALFORMED: list[tuple[str, bytes, str]] = [
    ("invalid JSON", b'{"encounter_id": "x", "administrations": [', "application/json"),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ("huge number", b'{"n": ' + b"9" * 4000 + b"}", "application/json"),
    ("NaN", b'{"n": NaN}', "application/json"),
    ("not UTF-8", b"\xff\xfe\x00{", "application/json"),
    ("wrong type", b"encounter_id=x", "application/x-www-form-urlencoded"),
    ("oversize 6 MB", b"[" + b" " * (6 * 1024 * 1024) + b"]", "application/json"),
    ("not an encounter", b'[1, "x", null, {"encounter_id": 5}]', "application/json"),
    ("too many records", b"[" + b"0," * 20_000 + b"0]", "application/json"),
]


async def malformed_phase(url: str, clients: int, count: int, key: str | None) -> Counter[str]:
    import httpx

    statuses: Counter[str] = Counter()
    queue = [MALFORMED[i % len(MALFORMED)] for i in range(count)]
    random.Random(1).shuffle(queue)
    headers = {"authorization": f"Bearer {key}"} if key else {}

    async def client(http: httpx.AsyncClient) -> None:
        while queue:
            name, body, content_type = queue.pop()
            try:
                response = await http.post(
                    "/v1/code", content=body, headers={**headers, "content-type": content_type}
                )
                statuses[f"{response.status_code}"] += 1
                json.loads(response.content)  # always a JSON error object or results
            except (httpx.HTTPError, ValueError) as exc:
                statuses[f"{name}: {type(exc).__name__}"] += 1

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return statuses


async def trickle_phase(port: int, connections: int, seconds: float) -> tuple[int, Counter[str]]:
    """Connections that send a request line and then one header byte a second: how many the server still
    holds after `seconds`, and what it answered the others."""
    loop = asyncio.get_running_loop()
    held: list[tuple[asyncio.Transport, Connection]] = []
    for _ in range(connections):
        transport, connection = await loop.create_connection(Connection, "127.0.0.1", port)
        transport.write(b"POST /v1/code HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        held.append((transport, connection))
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        await asyncio.sleep(1)
        for transport, connection in held:
            if not connection.closed:
                transport.write(b"a")
    answers: Counter[str] = Counter()
    for transport, connection in held:
        answer = connection._answer()
        answers[str(answer[0]) if answer else "nothing"] += 1
        transport.close()
    return sum(not connection.closed for _, connection in held), answers


# --- main ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", help="a running server on localhost (default: start one)")
    parser.add_argument("--pid", type=int, help="the running server's process id, for its CPU and memory")
    parser.add_argument(
        "--target", choices=["app", "bare"], default="app", help="the service or the baseline"
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes of the server started")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the gold phase")
    parser.add_argument("--malformed", type=int, default=300, help="malformed requests per flood (0: none)")
    parser.add_argument("--trickle", type=int, default=0, help="trickling connections to open (0: none)")
    parser.add_argument(
        "--header-timeout", type=float, help="the server's --header-timeout (default its own)"
    )
    parser.add_argument("--breakdown", action="store_true", help="also time each layer in process")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.workers)
        return 0
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    process = None
    if args.url:
        if urlparse(args.url).hostname not in LOCAL:
            raise SystemExit("load tests run against localhost only")
        url, pid = args.url, args.pid
    else:
        url, process = start_server(args.target, args.workers, args.header_timeout)
        pid = process.pid
    port = urlparse(url).port or 80
    key = os.environ.get("INFUSION_CODER_API_KEY") if args.url else None
    try:
        records = encounters()
        what = "bare ASGI app" if args.target == "bare" else "infusion-coder serve"
        workers = "" if args.url else f", {args.workers} worker{'s' if args.workers > 1 else ''}"
        print(
            f"server {url} ({what}{workers}); {len(records)} gold encounters; {args.clients} clients, "
            f"{args.seconds:g} s; load average before {os.getloadavg()[0]:.1f}"
        )
        rss_start, cpu_start = rss_kib(pid), cpu_seconds(pid)
        gold = asyncio.run(gold_phase(port, args.clients, args.seconds, records, key))
        cpu_end, rss_gold = cpu_seconds(pid), rss_kib(pid)
        print(
            f"gold: {gold['requests']} requests in {gold['seconds']:.1f} s = {gold['throughput']:.0f} req/s; "
            f"p50 {gold['p50_ms']:.1f} ms, p99 {gold['p99_ms']:.1f} ms; errors {sum(gold['errors'].values())} "
            f"{gold['errors'] or ''}; answers unlike the library {gold['mismatches']}"
        )
        if gold["requests"]:
            line = f"client CPU {gold['client_cpu'] / gold['requests'] * 1e6:.0f} us per request"
            if cpu_start is not None and cpu_end is not None:
                used = cpu_end - cpu_start
                line = (
                    f"server CPU {used:.1f} s = {used / gold['requests'] * 1e6:.0f} us per request "
                    f"(one core would serve about {gold['requests'] / used:.0f} req/s); " + line
                )
            print(f"{line}; load average now {os.getloadavg()[0]:.1f}")
        if args.breakdown:
            print("CPU per request in process, best of 5 (no HTTP):")
            for name, micros in breakdown(records).items():
                print(f"  {name:40} {micros:7.0f} us")
        failed = sum(gold["errors"].values()) > 0 or gold["mismatches"] > 0
        if args.malformed and args.target == "app":
            floods = []
            for round_number in (1, 2, 3):
                statuses = asyncio.run(malformed_phase(url, min(args.clients, 20), args.malformed, key))
                floods.append((statuses, rss_kib(pid)))
                print(
                    f"malformed flood {round_number}: {dict(sorted(statuses.items()))}; RSS {floods[-1][1]} KiB"
                )
            print(
                f"server RSS KiB: start {rss_start}, after gold {rss_gold}, after floods {[r for _, r in floods]}"
            )
            failed |= any(not key.isdigit() or key.startswith("5") for s, _ in floods for key in s)
        if args.trickle and args.target == "app":
            wait = (args.header_timeout or 10.0) + 5
            still, answers = asyncio.run(trickle_phase(port, args.trickle, wait))
            print(
                f"trickle: {args.trickle} connections sending a header byte a second; after {wait:g} s the "
                f"server held {still}, answered {dict(answers)}"
            )
            failed |= still > 0
        healthy = asyncio.run(_get(port, "/healthz"))[0] == 200
        print(f"still healthy: {healthy}")
        return 1 if failed or not healthy else 0
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
