"""The HTTP server under the service: uvicorn with httptools and uvloop, and a connection protocol that
holds the machine against slow or malformed clients.

uvicorn itself has no header or body read timeout (a client that trickles its headers one byte at a time
holds a connection for ever) and answers a malformed request with a text/plain 400. `GuardedProtocol`
adds, per connection:

- a header deadline: the request line and headers must arrive within `header_timeout` seconds of the
  connection opening (or of the first byte of a later request on a kept-alive connection);
- a body deadline: the body must arrive within `body_timeout` seconds of the headers;
- a header size cap (`MAX_HEADER_BYTES`, request line included): 431 beyond it;
- a JSON error object, as every other error of the service, for the server's own 400, 408 and 431.

The app enforces the body deadline too (guard.py), so it holds under another ASGI server.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .guard import DEFAULT_BODY_TIMEOUT, SERVER_DEADLINES, error_body

DEFAULT_HEADER_TIMEOUT = 10.0  # seconds for the request line and headers
MAX_HEADER_BYTES = 64 * 1024  # request line and headers; browsers send under 8 KiB
HEADER_TIMEOUT_VARIABLE = "INFUSION_CODER_HEADER_TIMEOUT"
BODY_TIMEOUT_VARIABLE = "INFUSION_CODER_BODY_TIMEOUT"  # the same name the app reads (service/__init__.py)


def seconds_from_environment(name: str, default: float) -> float:
    """A timeout from the environment (how `serve` hands its options to worker processes)."""
    value = os.environ.get(name)
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        return default
    return seconds if seconds > 0 else default


def error_response(status: int, message: str) -> bytes:
    """A whole HTTP/1.1 response carrying an error object, written straight to the connection."""
    body = orjson.dumps(error_body(message))
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class Refused(Exception):
    """Raised inside a parser callback once the connection has been refused, to stop the parser."""


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with read deadlines, a header cap and JSON errors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = seconds_from_environment(HEADER_TIMEOUT_VARIABLE, DEFAULT_HEADER_TIMEOUT)
        self.body_timeout = seconds_from_environment(BODY_TIMEOUT_VARIABLE, DEFAULT_BODY_TIMEOUT)
        self.read_deadline: asyncio.TimerHandle | None = None
        self.header_bytes = 0

    def _arm(self, seconds: float, status: int, message: str) -> None:
        self._disarm()
        self.read_deadline = self.loop.call_later(seconds, self._too_slow, status, message)

    def _disarm(self) -> None:
        if self.read_deadline is not None:
            self.read_deadline.cancel()
            self.read_deadline = None

    def _too_slow(self, status: int, message: str) -> None:
        self.read_deadline = None
        self._refuse(status, message)

    def _refuse(self, status: int, message: str) -> None:
        """Answer an error object (unless the app has started its answer) and close the connection."""
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            self.transport.write(error_response(status, message))
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app, if it waits for the body, sees the client gone
            cycle.message_event.set()
        self.transport.close()

    # connection and parser callbacks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout, 408, self._header_message())

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {SERVER_DEADLINES: {}}  # tells the app's Guard not to time the body too
        self.header_bytes = 0
        if self.read_deadline is None:  # a later request on a kept-alive connection
            self._arm(self.header_timeout, 408, self._header_message())

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        self.header_bytes += size
        if self.header_bytes > MAX_HEADER_BYTES:
            self._disarm()
            self._refuse(431, f"the request line and headers are larger than {MAX_HEADER_BYTES} bytes")
            raise Refused  # stops the parser; uvicorn's handler finds the connection closing

    def on_headers_complete(self) -> None:
        if self.transport.is_closing():
            return  # refused while its headers came in: no app for it
        self._arm(
            self.body_timeout,
            408,
            f"the request body did not arrive within {self.body_timeout:g} s; send it at once",
        )
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return  # refused already: read nothing more
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        # uvicorn's own text/plain 400 for a request the parser refuses (a malformed Content-Length, a
        # bad request line); its message is the library's, so the client gets the project's words.
        self._disarm()
        if self.transport.is_closing():
            return
        self.transport.write(
            error_response(
                400,
                "the request is not valid HTTP/1.1 (a malformed request line, header or Content-Length)",
            )
        )
        self.transport.close()

    def _header_message(self) -> str:
        return f"the request line and headers did not arrive within {self.header_timeout:g} s"
