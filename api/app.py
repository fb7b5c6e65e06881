"""create_app(): the FastAPI application. Nothing connects at import; engines and clients are made on first use."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import openapi_links, problems
from api.auth import issuer
from api.auth.jwt import JWKSKeySource, KeySource, StaticKeySource, TokenVerifier
from api.limits import HeaderLimit
from api.ratelimit import RateLimiter
from api.routes import ROUTER_MODULES
from api.web.headers import StatusPageHeaders
from core import crypto
from core.errors import PayloadTooLarge, ValidationFailed
from core.settings import Settings, get_settings
from evidence.bootstrap import bootstrap

# Routes that stream a large raw body and enforce settings.upload_max_bytes themselves.
STREAMED_UPLOADS: tuple[tuple[str, re.Pattern[str]], ...] = (("PUT", re.compile(r"^/items/[^/]+/file$")),)


class BodySizeLimit:
    """Refuse request bodies larger than `max_bytes` (413 problem+json), except the streamed upload routes."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a byte-counting receive()."""
        if scope["type"] != "http" or any(
            scope["method"] == m and rx.match(scope["path"]) for m, rx in STREAMED_UPLOADS
        ):
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    response = problems.domain_error_response(_too_large(limit))
                    await response(scope, receive, send)
                    return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # chunked bodies without Content-Length
                    raise _too_large(limit)
            return message

        await self.app(scope, counting_receive, send)


class CentreKeyring:
    """Every request runs with the app's centre keyring (core.crypto.using_keyring): services that take no key
    (the free text of core.crypto.texts) seal and open under the same centre key as the routes that pass one."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.settings.identity_key is None:
            await self.app(scope, receive, send)
            return
        with crypto.using_keyring(crypto.keyring_from_settings(self.settings)):
            await self.app(scope, receive, send)


class RefuseNul:
    """Refuse NUL characters in the path, query or request body (422 problem+json) before any route runs: no
    field of ours can hold one, and PostgreSQL refuses them in text, which would otherwise surface as a 500.

    Bodies are checked with byte searches, not parsed: a raw 0x00 byte (invalid in a UTF-8 JSON text; a UTF-16 or
    UTF-32 JSON body is full of them and is refused as a whole), a JSON escape ``\\u0000`` that is not itself an
    escaped backslash followed by ``u0000`` text, and ``%00`` in a form body. The streamed upload routes
    (STREAMED_UPLOADS) are exempt: their raw bytes are file content, where 0x00 and ``\\u0000`` are legitimate,
    and they must not be buffered.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the URL up front and, outside the upload routes, the whole (size-capped) body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
        if b"\x00" in raw or b"%00" in raw or "\x00" in scope.get("path", ""):
            await problems.domain_error_response(_nul_error("the URL (path or query)"))(scope, receive, send)
            return
        if any(scope["method"] == m and rx.match(scope["path"]) for m, rx in STREAMED_UPLOADS):
            await self.app(scope, receive, send)
            return

        # Other bodies are small (BodySizeLimit, outside this middleware, caps them): read, check, replay.
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away before sending the whole body: nothing to answer
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except PayloadTooLarge as exc:
            await problems.domain_error_response(exc)(scope, receive, send)
            return
        body = b"".join(chunks)
        if body and _body_has_nul(body, _content_type(scope)):
            await problems.domain_error_response(_nul_error("the request body"))(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# A JSON \u0000 escape: preceded by an even number (0, 2, …) of backslashes, so `\\u0000` (an escaped backslash
# then the text "u0000") is not one. The hex digits 0000 have no case; JSON only has a lower-case \u escape.
_JSON_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def _content_type(scope: Scope) -> bytes:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-type":
            return bytes(value).lower()
    return b""


def _body_has_nul(body: bytes, content_type: bytes) -> bool:
    """Would this body decode to text holding U+0000? (byte searches; the regex runs only after a hit)"""
    if b"\x00" in body:
        return True
    if b"\\u0000" in body and _JSON_NUL_ESCAPE.search(body):
        return True
    return b"x-www-form-urlencoded" in content_type and b"%00" in body


def _nul_error(where: str) -> ValidationFailed:
    return ValidationFailed(f"{where} contains a NUL character (U+0000, sent as \\u0000 in JSON or %00 in a URL "
                            "or form): no text field may hold one; remove it and try again")


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than {limit} bytes")


def create_app(settings: Settings | None = None, *, key_source: KeySource | None = None) -> FastAPI:
    """Build the API: every router in api.routes.ROUTER_MODULES, problem+json errors, body size limit, auth."""
    settings = settings or get_settings()
    container = bootstrap(settings)  # the composition root: hooks wired, adapters made on first use
    app = FastAPI(title="Chain of Care", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Consent checkpoints, an unbroken chain of custody, and the survivor's pathway.")
    install_docs(app)
    app.state.settings = settings
    app.state.container = container
    app.state.engine = None  # made on first request (api.deps.get_app_engine)
    app.state.login_limiter = RateLimiter(settings.login_rate_per_min)
    app.state.lookup_limiter = RateLimiter(settings.lookup_rate_per_min)
    app.state.health_cache = {}
    app.state.issuer_keys = issuer.load_or_create_keys(settings.data_dir) if settings.embedded else None
    if key_source is None:
        if app.state.issuer_keys is not None:
            # Embedded: verify against our own key in-process (fetching our own JWKS over HTTP would be a
            # request to ourselves from inside a request).
            key_source = StaticKeySource([app.state.issuer_keys.public_jwk])
        else:
            settings.require("jwt_jwks_url", "jwt_issuer")
            key_source = JWKSKeySource(str(settings.jwt_jwks_url))
    assert settings.jwt_issuer, "load_settings fills jwt_issuer in embedded mode and requires it otherwise"
    app.state.verifier = TokenVerifier(key_source, issuer=settings.jwt_issuer, audience=settings.jwt_audience,
                                       algorithms=settings.jwt_algorithms, leeway_s=settings.jwt_leeway_s)
    problems.install(app)
    _with_links(app)
    app.add_middleware(RefuseNul)
    app.add_middleware(CentreKeyring, settings=settings)
    app.add_middleware(BodySizeLimit, max_bytes=settings.body_max_bytes)
    app.add_middleware(StatusPageHeaders)  # the page's headers on every /status answer (refusals too)
    app.add_middleware(HeaderLimit)  # outermost: too many or too large headers are refused (431) first
    app.include_router(issuer.router, responses=problems.PROBLEM_RESPONSES)
    for name in ROUTER_MODULES:
        app.include_router(importlib.import_module(name).router, responses=problems.PROBLEM_RESPONSES)
    return app


def _with_links(app: FastAPI) -> None:
    """Serve the OpenAPI schema with its links (api.openapi_links), built once like FastAPI's own."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_links.add_links(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# Swagger UI is vendored (swagger-ui-dist, Apache-2.0, LICENSE beside it): FastAPI's default /docs loads it
# from a public CDN and is blank on a centre's closed network. ReDoc (CDN-only too) is not served.
STATIC_DIR = Path(__file__).parent / "static"
SWAGGER_PREFIX = "/static/swagger-ui"


def install_docs(app: FastAPI) -> None:
    """/docs from our own files: the page, its JS/CSS/favicon under /static/swagger-ui, and the OAuth2 redirect."""
    app.mount(SWAGGER_PREFIX, StaticFiles(directory=STATIC_DIR / "swagger-ui"), name="swagger-ui")

    async def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} — API",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{SWAGGER_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_PREFIX}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None})  # no badge fetched from validator.swagger.io

    async def oauth2_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.add_route("/docs", docs, include_in_schema=False)
    app.add_route("/docs/oauth2-redirect", oauth2_redirect, include_in_schema=False)


def iter_api_routes(app: FastAPI) -> Iterator[Any]:
    """Every API route of the app, flattened through included routers (each has .path, .methods, .dependant).

    FastAPI 0.150 keeps included routers as branches; their effective routes carry the include-time
    prefix and dependencies, which is what authorization introspection must see.
    """
    stack: list[Any] = list(reversed(app.routes))
    while stack:
        route = stack.pop()
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "effective_route_contexts"):
            for ctx in route.effective_route_contexts():
                if getattr(ctx, "dependant", None) is not None and getattr(ctx, "methods", None):
                    yield ctx
