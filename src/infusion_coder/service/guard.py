"""The outermost layer of the service, as plain ASGI: a request id, the localhost-only rule when no API key
is set, the API key on every /v1 path, the body-size limit and the body-read deadline enforced while the body is read, a catch-all that
answers an error object instead of a traceback, and one log line per request with ids, counts and timings
only (never a record's contents, never the query string; control characters escaped)."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from starlette.requests import ClientDisconnect

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("infusion_coder.service")

# The page runs no inline script and loads nothing from elsewhere.
PAGE_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    ),
    (b"referrer-policy", b"no-referrer"),
]


DEFAULT_BODY_TIMEOUT = 60.0  # seconds for the whole body once the headers are in: 5 MiB at under 1 Mbit/s
SERVER_DEADLINES = "infusion_coder.read_deadlines"  # scope extension: the server enforces the body deadline
KEY_MESSAGE = "an API key is required: send Authorization: Bearer <key>"
LOCAL_ONLY_MESSAGE = (
    "this service has no API key and answers localhost only; set INFUSION_CODER_API_KEY on the server"
)


class BodyTooLarge(Exception):
    """The request body passed the limit while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than the limit of {limit} bytes")
        self.limit = limit


class BodyTimeout(Exception):
    """The request body did not arrive within the deadline."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request body did not arrive within {seconds:g} s; send it at once")


def error_body(message: str, field: str | None = None, encounter_id: str | None = None) -> dict[str, Any]:
    return {"encounter_id": encounter_id, "error": {"message": message, "field": field}}


def json_bytes(content: Any) -> bytes:
    """Compact JSON as the service answers it: orjson, the same values json.dumps gives. A lone surrogate
    (from a \\ud800 escape in the input) cannot be UTF-8; json.dumps then keeps it escaped, as it came."""
    try:
        return orjson.dumps(content)
    except orjson.JSONEncodeError:
        return json.dumps(content, separators=(",", ":")).encode()


def printable(text: str, limit: int = 80) -> str:
    """Text for a log line: at most `limit` characters, control and line-separator characters escaped, so
    a request cannot forge a log line (`%0a` in a path)."""
    shown = text[:limit]
    if shown.isprintable():
        return shown
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in shown)


def is_loopback(client: Any) -> bool:
    """Whether a connection comes from this machine (a Unix socket has no address: local too)."""
    return not client or _loopback_host(str(client[0]))


@functools.lru_cache(maxsize=1024)
def _loopback_host(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


async def send_error(
    send: Send, status: int, message: str, request_id: str, *, close: bool = False, field: str | None = None
) -> None:
    body = json_bytes(error_body(message, field))
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if close:  # the rest of the body will not be read: the connection cannot be reused
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        local_only: bool = False,
        api_key: str | None = None,
        direct: dict[tuple[str, str], ASGIApp] | None = None,
    ) -> None:
        self.app = app
        # (method, path) -> the ASGI app that serves it, called without the framework's middleware and
        # router in between: the hot routes, whose apps need nothing of them (app.LeanRoute)
        self.direct = direct if direct is not None else {}
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.local_only = local_only
        self.api_key = b"Bearer " + api_key.encode() if api_key is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:12]
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        began = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers += [(b"x-request-id", request_id.encode()), (b"x-content-type-options", b"nosniff")]
                if any(k == b"content-type" and v.startswith(b"text/html") for k, v in headers):
                    headers += PAGE_HEADERS
                message["headers"] = headers
            await send(message)

        declared, encoding, authorization = _request_headers(scope)
        refusal: tuple[int, str] | None = None
        path = _route_path(scope)
        if self.local_only and not is_loopback(scope.get("client")):
            refusal = 403, LOCAL_ONLY_MESSAGE
        elif (
            self.api_key is not None
            and (path == "/v1" or path.startswith("/v1/"))
            and not _same_key(authorization, self.api_key)
        ):
            # here, before routing: every /v1 path is covered, whichever router serves it
            refusal = 401, KEY_MESSAGE
        elif declared == -1:
            refusal = 400, "the Content-Length header is not a number"
        elif declared is not None and declared > self.max_body_bytes:
            refusal = 413, str(BodyTooLarge(self.max_body_bytes))  # refused before a byte of it is read
        elif encoding not in (b"", b"identity"):
            refusal = (
                415,
                (
                    f"Content-Encoding {printable(encoding.decode('latin-1'), 20)!r} is not accepted: send the "
                    "body uncompressed (a .gz file is uploaded as a file to /v1/import/{format})"
                ),
            )
        if refusal is not None:
            status = refusal[0]
            field = "authorization" if status == 401 else None
            # a body left unread is drained by the server (its body deadline still holds) so the client
            # can read the answer; closing at once would reset the connection under a client still sending
            await send_error(send, status, refusal[1], request_id, field=field)
        else:
            received = 0
            deadline = asyncio.get_running_loop().time() + self.body_timeout
            # once the body is in, waiting is for a disconnect, which has no deadline; under `serve` the
            # connection's protocol keeps the body deadline itself (service/server.py)
            finished = SERVER_DEADLINES in (scope.get("extensions") or {})

            async def limited_receive() -> Message:
                nonlocal received, finished
                if finished:
                    message = await receive()
                else:
                    left = deadline - asyncio.get_running_loop().time()
                    try:
                        async with asyncio.timeout(max(left, 0)):
                            message = await receive()
                    except TimeoutError:
                        raise BodyTimeout(self.body_timeout) from None
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body_bytes:
                        raise BodyTooLarge(self.max_body_bytes)
                    finished = finished or not message.get("more_body", False)
                return message

            target = self.direct.get((scope.get("method", ""), path), self.app)
            try:
                await target(scope, limited_receive, send_with_id)
            except BodyTooLarge as exc:
                if status == 0:
                    status = 413
                    await send_error(send, 413, str(exc), request_id)
            except BodyTimeout as exc:
                if status == 0:
                    status = 408
                    await send_error(send, 408, str(exc), request_id, close=True)
            except ClientDisconnect:
                status = status or 499  # the client left before its answer (nginx's code, for the log)
            except Exception as exc:  # never a traceback to the client, never record text in the log
                log.error("request_id=%s unhandled %s at %s", request_id, type(exc).__name__, _where(exc))
                if status == 0:
                    status = 500
                    await send_error(send, 500, "internal error; the request id is in the log", request_id)
        log.info(
            "request_id=%s method=%s path=%s status=%s records=%s errors=%s ms=%.1f",
            request_id,
            printable(str(scope.get("method")), 10),
            printable(str(scope.get("path", ""))),
            status,
            state.get("records", "-"),
            state.get("errors", "-"),
            (time.perf_counter() - began) * 1000,
        )


def _route_path(scope: Scope) -> str:
    """The path the app routes on: without the root path a proxy mounts it under (Starlette's rule), so
    the key covers /v1 under any mount."""
    path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :]
    return path


def _request_headers(scope: Scope) -> tuple[int | None, bytes, bytes]:
    """The declared body length (None when absent, -1 when it is not a number), Content-Encoding and
    Authorization."""
    length: int | None = None
    encoding = authorization = b""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            length = int(value) if value.isdigit() and len(value) < 19 else -1
        elif name == b"content-encoding":
            encoding = value.strip().lower()
        elif name == b"authorization":
            authorization = value.strip()
    return length, encoding, authorization


def _same_key(authorization: bytes, expected: bytes) -> bool:
    """`Authorization: Bearer KEY` with the right key (the scheme's case is free), in constant time."""
    if authorization[:7].lower() == b"bearer ":
        authorization = b"Bearer " + authorization[7:].strip()
    return secrets.compare_digest(authorization, expected)


def _where(exc: BaseException) -> str:
    """File and line where an exception was raised: enough to find the bug, no values."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "?"
    return f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
