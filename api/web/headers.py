"""The status page's headers on EVERY response under /status (api.web.routes.HEADERS: strict CSP, no referrer,
no caching, nosniff, no framing), not only on the pages the routes render: a 404 or 405 under /status, a
problem+json refusal or an unexpected error's 500, the JSON lookup's kit status (`coc status`) and its refusals.
A header a route set itself (the stylesheet's caching) is kept."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from api.web.routes import HEADERS


def is_status_path(path: str) -> bool:
    """True for /status and anything under /status/ (not /status-requests, the staff's list)."""
    return path == "/status" or path.startswith("/status/")


class StatusPageHeaders:
    """ASGI middleware adding the page's headers (where a response has not set them) under /status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the response's start under /status."""
        if scope["type"] != "http" or not is_status_path(scope.get("path", "")):
            await self.app(scope, receive, send)
            return

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if name.lower() not in headers:
                        headers[name] = value
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # An unexpected error: the outermost handler (api.problems) logs it and would answer it outside this
            # middleware, without the headers; answer it here the same way, then let it go on to be logged.
            if not started:
                await problems.problem(500, "Internal server error", "an unexpected error occurred; it was logged",
                                       code="internal", headers=HEADERS)(scope, receive, send)
            raise
