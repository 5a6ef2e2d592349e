"""Load test of the HTTP service: concurrent clients posting gold encounters, then a flood of malformed
requests, with the server's memory before and after.

    python scripts/load_test.py                    # starts `infusion-coder serve` on a free local port
    python scripts/load_test.py --url http://127.0.0.1:8000 --pid 1234   # a running server (localhost only)

Prints p50/p99 latency, throughput and the error count for the gold phase; status counts and RSS for the
malformed phase. Exit status 1 if any gold request failed or any malformed request got a 5xx.
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

import httpx
from _bench_util import status_kib

ROOT = Path(__file__).resolve().parents[1]
CASES = sorted((ROOT.parent / "shared" / "cases").glob("*.jsonl"))


def encounters() -> list[dict[str, Any]]:
    found = [
        json.loads(line)["encounter"]
        for path in CASES
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    return found or [json.loads(path.read_text()) for path in sorted((ROOT / "examples").glob("*.json"))]


def rss_kib(pid: int | None) -> int | None:
    return None if pid is None else status_kib(pid)


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process, from /proc (Linux)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server() -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "INFUSION_CODER_API_KEY"}
    process = subprocess.Popen(
        [sys.executable, "-m", "infusion_coder", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return url, process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("the server did not start within 60 s")


async def gold_phase(url: str, clients: int, seconds: float, records: list[dict[str, Any]]) -> dict[str, Any]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    stop = time.monotonic() + seconds
    bodies = [json.dumps(record).encode() for record in records]

    async def client(number: int, http: httpx.AsyncClient) -> None:
        index = number
        while time.monotonic() < stop:
            body = bodies[index % len(bodies)]
            index += clients
            began = time.perf_counter()
            try:
                response = await http.post(
                    "/v1/code", content=body, headers={"content-type": "application/json"}
                )
                if response.status_code != 200:
                    errors[f"HTTP {response.status_code}"] += 1
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
                continue
            latencies.append(time.perf_counter() - began)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    began = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        await asyncio.gather(*(client(number, http) for number in range(clients)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": dict(errors),
        "seconds": elapsed,
        "throughput": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else None,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
        if latencies
        else None,
    }


MALFORMED: list[tuple[str, bytes, str]] = [
    ("invalid JSON", b'{"encounter_id": "x", "administrations": [', "application/json"),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ("huge number", b'{"n": ' + b"9" * 4000 + b"}", "application/json"),
    ("NaN", b'{"n": NaN}', "application/json"),
    ("not UTF-8", b"\xff\xfe\x00{", "application/json"),
    ("wrong type", b"encounter_id=x", "application/x-www-form-urlencoded"),
    ("oversize 6 MB", b"[" + b" " * (6 * 1024 * 1024) + b"]", "application/json"),
    ("not an encounter", b'[1, "x", null, {"encounter_id": 5}]', "application/json"),
]


async def malformed_phase(url: str, clients: int, count: int) -> Counter[str]:
    statuses: Counter[str] = Counter()
    queue = [MALFORMED[i % len(MALFORMED)] for i in range(count)]
    random.Random(1).shuffle(queue)

    async def client(http: httpx.AsyncClient) -> None:
        while queue:
            name, body, content_type = queue.pop()
            try:
                response = await http.post("/v1/code", content=body, headers={"content-type": content_type})
                statuses[f"{response.status_code}"] += 1
                if response.status_code < 500:
                    json.loads(response.content)  # always a JSON error object or results
            except httpx.HTTPError as exc:
                statuses[f"{name}: {type(exc).__name__}"] += 1

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server on localhost (default: start one)")
    parser.add_argument("--pid", type=int, help="the running server's process id, for its memory")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the gold phase")
    parser.add_argument("--malformed", type=int, default=400, help="malformed requests per flood")
    args = parser.parse_args()
    process = None
    if args.url:
        if urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("load tests run against localhost only")
        url, pid = args.url, args.pid
    else:
        url, process = start_server()
        pid = process.pid
    try:
        records = encounters()
        print(f"server {url}; {len(records)} gold encounters; {args.clients} concurrent clients")
        rss_start = rss_kib(pid)
        cpu_start = cpu_seconds(pid)
        gold = asyncio.run(gold_phase(url, args.clients, args.seconds, records))
        cpu_end = cpu_seconds(pid)
        rss_gold = rss_kib(pid)
        print(
            f"gold: {gold['requests']} requests in {gold['seconds']:.1f} s = {gold['throughput']:.1f} req/s; "
            f"p50 {gold['p50_ms']:.1f} ms, p99 {gold['p99_ms']:.1f} ms; errors {sum(gold['errors'].values())} "
            f"{gold['errors'] or ''}"
        )
        if cpu_start is not None and cpu_end is not None and gold["requests"]:
            used = cpu_end - cpu_start
            print(
                f"server CPU: {used:.1f} s for {gold['requests']} requests = "
                f"{used / gold['requests'] * 1000:.1f} ms per request "
                f"(one core would serve about {gold['requests'] / used:.0f} req/s); "
                f"load average now {os.getloadavg()[0]:.1f}"
            )
        floods = []
        for round_number in (1, 2, 3):
            statuses = asyncio.run(malformed_phase(url, args.clients, args.malformed))
            floods.append((statuses, rss_kib(pid)))
            print(
                f"malformed flood {round_number}: {dict(sorted(statuses.items()))}; server RSS {floods[-1][1]} KiB"
            )
        healthy = httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        print(
            f"server RSS KiB: start {rss_start}, after gold {rss_gold}, "
            f"after floods {[rss for _, rss in floods]}; still healthy: {healthy}"
        )
        server_errors = sum(n for statuses, _ in floods for key, n in statuses.items() if key.startswith("5"))
        failed = sum(gold["errors"].values()) > 0 or server_errors > 0 or not healthy
        return 1 if failed else 0
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=20)


if __name__ == "__main__":
    sys.exit(main())
