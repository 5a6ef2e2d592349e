"""The outermost layer of the service, as plain ASGI: a request id, the body-size limit enforced while the
body is read, a catch-all that answers an error object instead of a traceback, and one log line per request
with ids, counts and timings only (never a record's contents, never the query string)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

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


class BodyTooLarge(Exception):
    """The request body passed the limit while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than the limit of {limit} bytes")
        self.limit = limit


def error_body(message: str, field: str | None = None, encounter_id: str | None = None) -> dict[str, Any]:
    return {"encounter_id": encounter_id, "error": {"message": message, "field": field}}


async def send_error(send: Send, status: int, message: str, request_id: str) -> None:
    body = json.dumps(error_body(message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Guard:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

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

        declared = _content_length(scope)
        if declared == -1:
            status = 400
            await send_error(send, 400, "the Content-Length header is not a number", request_id)
        elif declared is not None and declared > self.max_body_bytes:
            # refuse before reading a byte of it
            status = 413
            await send_error(send, 413, str(BodyTooLarge(self.max_body_bytes)), request_id)
        else:
            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body_bytes:
                        raise BodyTooLarge(self.max_body_bytes)
                return message

            try:
                await self.app(scope, limited_receive, send_with_id)
            except BodyTooLarge as exc:
                if status == 0:
                    status = 413
                    await send_error(send, 413, str(exc), request_id)
            except Exception as exc:  # never a traceback to the client, never record text in the log
                log.error("request_id=%s unhandled %s at %s", request_id, type(exc).__name__, _where(exc))
                if status == 0:
                    status = 500
                    await send_error(send, 500, "internal error; the request id is in the log", request_id)
        log.info(
            "request_id=%s method=%s path=%s status=%s records=%s errors=%s ms=%.1f",
            request_id,
            scope.get("method"),
            str(scope.get("path", ""))[:80],
            status,
            state.get("records", "-"),
            state.get("errors", "-"),
            (time.perf_counter() - began) * 1000,
        )


def _content_length(scope: Scope) -> int | None:
    """The declared body length; None when absent, -1 when it is not a number."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


def _where(exc: BaseException) -> str:
    """File and line where an exception was raised: enough to find the bug, no values."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "?"
    return f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
