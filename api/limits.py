"""Request-header limits: at most MAX_HEADER_COUNT headers and MAX_HEADER_BYTES in all, else 431 (RFC 6585).

Two layers, because each alone leaves a gap:
  * HeaderLimit, an ASGI middleware, counts the headers the server parsed and refuses too many or too large
    with a problem+json 431 before any route (or token decoding) runs;
  * CappedH11Protocol, the HTTP protocol the stack starts uvicorn with (`uvicorn_args()`), stops buffering a
    request head at H11_MAX_HEAD_BYTES (h11's `max_incomplete_event_size`) and answers 431 too, so an 8 MiB
    header is never read into memory whole. (uvicorn's own h11 protocol answers such a head with a bare 400,
    and httptools, uvicorn's default when installed, has no head limit at all.)
"""

from __future__ import annotations

import json

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from api import problems

MAX_HEADER_COUNT = 100
MAX_HEADER_BYTES = 32 * 1024  # names + values, all headers together (the Authorization header included)
H11_MAX_HEAD_BYTES = 64 * 1024  # the server stops reading a request head beyond this


def too_large_detail() -> str:
    """What a refused client is told (the limits, so a person can act on it)."""
    return (f"the request headers are too large: at most {MAX_HEADER_COUNT} headers and {MAX_HEADER_BYTES} "
            "bytes in all are accepted")


class HeaderLimit:
    """Refuse requests with more than `max_count` headers or more than `max_bytes` of them (431 problem+json)."""

    def __init__(self, app: ASGIApp, max_count: int = MAX_HEADER_COUNT, max_bytes: int = MAX_HEADER_BYTES) -> None:
        self.app = app
        self.max_count = max_count
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the parsed headers, then pass the request on."""
        if scope["type"] == "http":
            headers = scope.get("headers", ())
            size = sum(len(name) + len(value) for name, value in headers)
            if len(headers) > self.max_count or size > self.max_bytes:
                response = problems.problem(431, "Request header fields too large", too_large_detail(),
                                            code="headers-too-large", headers={"Connection": "close"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class CappedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering a request head over h11's size limit with 431 instead of 400."""

    def send_400_response(self, msg: str) -> None:
        """A 431 when the unparsed head outgrew the limit, else uvicorn's 400."""
        limit = self.config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
        if self.conn.their_state is h11.ERROR and len(self.conn.trailing_data[0]) > limit:
            body = json.dumps({"type": "about:blank", "title": "Request header fields too large", "status": 431,
                               "detail": too_large_detail()}).encode()
            # Written raw: the h11 connection is in its ERROR state and sends nothing any more.
            self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                 b"content-type: " + problems.MEDIA_TYPE.encode() + b"\r\n"
                                 b"content-length: " + str(len(body)).encode() + b"\r\n"
                                 b"connection: close\r\n\r\n" + body)
            self.transport.close()
            return
        super().send_400_response(msg)


def uvicorn_args() -> list[str]:
    """The uvicorn command-line options that put these limits in front of the app."""
    return ["--http", f"{__name__}:CappedH11Protocol", "--h11-max-incomplete-event-size", str(H11_MAX_HEAD_BYTES)]


def uvicorn_config() -> dict[str, object]:
    """The same options as uvicorn.Config keyword arguments (servers started in-process)."""
    return {"http": CappedH11Protocol, "h11_max_incomplete_event_size": H11_MAX_HEAD_BYTES}
