"""Typed httpx client over the Chain of Care HTTP API (docs/ARCHITECTURE.md); the `coc` CLI talks only via this.

Every method returns parsed JSON (dicts/lists) or a small pydantic model; every non-2xx answer raises one
`ApiError` parsed from RFC 9457 problem+json. Files stream in both directions in fixed-size chunks so an
8 GiB upload never sits in memory.

Why one file over ~400 lines: `CocClient` mirrors the HTTP API one method per endpoint (two to four lines
each), grouped by area under `# --` headers (auth and health, cases, admin, consent/exam/care, evidence items
and files, custody, audit). One flat class is the one place to find an endpoint's method (the rule: every API
capability has a client method in api/client.py) and lets parallel work add a method without touching the
rest; mixins per area would spread that one mirror over files without separating any concern. The transport
(`_send`/`request`, problem+json errors, streamed files) is the only logic, and it sits at the top.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel

DEFAULT_API_URL = "http://127.0.0.1:8000"
CHUNK = 1024 * 1024  # 1 MiB: large enough for throughput, small enough for a smooth progress bar

# progress(bytes_done, bytes_total_or_None) — called after each chunk.
Progress = Callable[[int, int | None], None]


def _failed(exc: ApiError, method: str, path: str, *, sent: bool = True) -> ApiError:
    exc.method, exc.path, exc.sent = method.upper(), path, sent
    return exc


class ApiError(Exception):
    """An error answer of the API (or a failure to reach it: status 0), parsed from problem+json."""

    def __init__(self, status: int, title: str, detail: str, type_: str = "about:blank",
                 body: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{status} {title}: {detail}" if status else f"{title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.body = dict(body or {})
        self.method = ""  # the request that failed (set by CocClient._send)
        self.path = ""
        self.sent = True  # False when the request never reached the server (connection refused)

    @property
    def outcome_unknown(self) -> bool:
        """True when a change may or may not have been recorded: the server said so (its database connection
        was lost during COMMIT), or a write got no answer after it was sent (a timeout, a cut connection)."""
        if self.body.get("code") == "database-outcome-unknown":
            return True
        return self.status == 0 and self.sent and self.method not in ("", "GET", "HEAD", "OPTIONS")

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """Build from an error response; tolerates plain FastAPI `{"detail": ...}` and non-JSON bodies."""
        status = response.status_code
        title = response.reason_phrase or "error"
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            text = response.text.strip()[:500] if response.text else ""
            return cls(status, title, text or title)
        detail = body.get("detail", title)
        if isinstance(detail, list):  # plain FastAPI request-validation errors: a list of {loc, msg}
            detail = "; ".join(_validation_message(e) for e in detail) or title
        elif isinstance(body.get("errors"), list) and body["errors"]:  # RFC 9457 extension: say which field
            detail = f"{detail}: " + "; ".join(_validation_message(e) for e in body["errors"])
        return cls(status, str(body.get("title") or title), str(detail), str(body.get("type") or "about:blank"),
                   body)


def _validation_message(err: Any) -> str:
    if not isinstance(err, dict):
        return str(err)
    loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
    return f"{loc}: {err.get('msg', '')}" if loc else str(err.get("msg", ""))


class Token(BaseModel):
    """The answer of POST /auth/token."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int | None = None
    refresh_token: str | None = None  # renews the access token (POST /auth/refresh) until refresh_expires_at
    refresh_expires_at: str | None = None

    def __repr__(self) -> str:  # never show the token itself in logs or tracebacks
        return f"Token(token_type={self.token_type!r}, expires_in={self.expires_in!r})"

    __str__ = __repr__


class Download(BaseModel):
    """What a streamed download delivered: byte count and the server's headers of interest."""

    bytes: int
    sha256: str | None = None
    content_type: str | None = None
    filename: str | None = None


def _file_size(fileobj: IO[bytes]) -> int | None:
    """Size of what is left in `fileobj`, or None for pipes and sockets (then the upload is chunked)."""
    try:
        pos = fileobj.tell()
        end = os.fstat(fileobj.fileno()).st_size
        return max(end - pos, 0)
    except (OSError, AttributeError, ValueError):
        pass
    try:
        pos = fileobj.tell()
        end = fileobj.seek(0, os.SEEK_END)
        fileobj.seek(pos)
        return end - pos
    except (OSError, AttributeError, ValueError):
        return None


def _iter_file(fileobj: IO[bytes], total: int | None, progress: Progress | None) -> Iterator[bytes]:
    done = 0
    while True:
        chunk = fileobj.read(CHUNK)
        if not chunk:
            break
        done += len(chunk)
        if progress:
            progress(done, total)
        yield chunk


def _filename_from(disposition: str | None) -> str | None:
    if not disposition:
        return None
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename" and value:
            return value.strip('"')
    return None


class CocClient:
    """One API session: base URL, optional bearer token, timeouts. Use as a context manager."""

    def __init__(self, base_url: str = DEFAULT_API_URL, token: str | None = None, *, timeout: float = 30.0,
                 connect_timeout: float = 5.0, transport: httpx.BaseTransport | None = None,
                 refresh_token: str | None = None, on_tokens: Callable[[Token], None] | None = None) -> None:
        """Open a connection pool to `base_url`; `token` is sent as a Bearer header when given. With
        `refresh_token`, a request answered 401 renews the access token once (POST /auth/refresh) and is retried;
        `on_tokens` is told every new pair (the CLI stores it)."""
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._refresh_token = refresh_token
        self._on_tokens = on_tokens
        self._http = httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(timeout, connect=connect_timeout),
                                  transport=transport, headers={"Accept": "application/json"})

    # -- plumbing -----------------------------------------------------------------------------
    def __enter__(self) -> CocClient:
        """Return self."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the connection pool."""
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __repr__(self) -> str:  # the token stays out of reprs
        return f"CocClient({self.base_url!r}, authenticated={self._token is not None})"

    @property
    def authenticated(self) -> bool:
        """True when a token is set."""
        return self._token is not None

    def set_token(self, token: str | None) -> None:
        """Use `token` for the following requests (None: anonymous)."""
        self._token = token

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def _send(self, method: str, path: str, *, stream: bool = False, headers: Mapping[str, str] | None = None,
              **kwargs: Any) -> httpx.Response:
        request = self._http.build_request(method, path, headers=self._headers(headers), **kwargs)
        try:
            response = self._http.send(request, stream=stream)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # never reached the server
            raise _failed(ApiError(0, "connection failed", f"cannot reach {self.base_url}: {exc}"),
                          method, path, sent=False) from exc
        except httpx.TimeoutException as exc:
            raise _failed(ApiError(0, "timeout", f"{self.base_url} did not answer in time ({type(exc).__name__})"),
                          method, path) from exc
        except httpx.TransportError as exc:
            raise _failed(ApiError(0, "connection failed", f"lost the connection to {self.base_url}: {exc}"),
                          method, path) from exc
        if (response.status_code == 401 and self._refresh_token and not path.startswith("/auth/")
                and "content" not in kwargs):  # a streamed upload body cannot be sent twice
            if stream:
                response.close()
            self.refresh()
            return self._send(method, path, stream=stream, headers=headers, **kwargs)
        if response.is_error:
            if stream:
                response.read()
                response.close()
            raise _failed(ApiError.from_response(response), method, path)
        return response

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None,
                data: Mapping[str, Any] | None = None) -> Any:
        """Send one request and return the decoded JSON body (None for 204/empty)."""
        if params:
            params = {k: v for k, v in params.items() if v is not None}
        response = self._send(method, path, json=json, params=params, data=data)
        if response.status_code == 204 or not response.content:
            return None
        ctype = response.headers.get("content-type", "")
        if "json" in ctype:
            return response.json()
        return response.text

    def _get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def _post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self.request("POST", path, json=_clean(body or {}))

    # -- auth and health ---------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """GET /health (no auth)."""
        return self._get("/health")

    def login(self, username: str, password: str) -> Token:
        """POST /auth/token with a form; remembers the token for later calls and returns it."""
        body = self.request("POST", "/auth/token", data={"username": username, "password": password,
                                                          "grant_type": "password"})
        token = Token.model_validate(body)
        self._token = token.access_token
        self._refresh_token = token.refresh_token
        return token

    def jwks(self) -> dict[str, Any]:
        """GET /auth/jwks.json."""
        return self._get("/auth/jwks.json")

    def me(self) -> dict[str, Any]:
        """GET /me: the authenticated staff user."""
        return self._get("/me")

    # -- cases --------------------------------------------------------------------------------
    def open_case(self, **fields: Any) -> dict[str, Any]:
        """POST /cases (jurisdiction, assault_at, age_band, reporting)."""
        return self._post("/cases", fields)


    def update_case(self, case_id: str, **fields: Any) -> dict[str, Any]:
        """PATCH /cases/{case_id} (reporting: convert to unrestricted; assault_at: record it later)."""
        return self._send("PATCH", f"/cases/{_seg(case_id)}",
                          json={k: v for k, v in fields.items() if v is not None}).json()
    def list_cases(self, **params: Any) -> list[dict[str, Any]]:
        """GET /cases (only the cases the caller may see)."""
        return _items(self._get("/cases", **params))

    def get_case(self, case_id: str) -> dict[str, Any]:
        """GET /cases/{case_id}."""
        return self._get(f"/cases/{_seg(case_id)}")

    def put_identity(self, case_id: str, identity: Mapping[str, Any]) -> Any:
        """PUT /cases/{case_id}/identity: the survivor's identity (stored encrypted)."""
        return self.request("PUT", f"/cases/{_seg(case_id)}/identity", json=dict(identity))

    def get_identity(self, case_id: str) -> dict[str, Any]:
        """GET /cases/{case_id}/identity (access-logged)."""
        return self._get(f"/cases/{_seg(case_id)}/identity")

    def assign(self, case_id: str, user_id: str) -> Any:
        """POST /cases/{case_id}/assignments."""
        return self._post(f"/cases/{_seg(case_id)}/assignments", {"user_id": user_id})

    def unassign(self, case_id: str, user_id: str) -> Any:
        """DELETE /cases/{case_id}/assignments/{user_id}."""
        return self.request("DELETE", f"/cases/{_seg(case_id)}/assignments/{_seg(user_id)}")

    def break_glass(self, case_id: str, reason: str) -> Any:
        """POST /cases/{case_id}/break-glass (emergency access, recorded)."""
        return self._post(f"/cases/{_seg(case_id)}/break-glass", {"reason": reason})

    def propose_erasure(self, case_id: str, basis: str, reference: str | None = None) -> dict[str, Any]:
        """POST /cases/{case_id}/erasure: propose the lawful erasure (basis, optional reference code)."""
        return self._post(f"/cases/{_seg(case_id)}/erasure", _clean({"basis": basis, "reference": reference}))

    def approve_erasure(self, case_id: str) -> dict[str, Any]:
        """POST /cases/{case_id}/erasure/approve: a second person approves; the case key is destroyed."""
        return self._post(f"/cases/{_seg(case_id)}/erasure/approve")

    def withdraw_erasure(self, case_id: str) -> dict[str, Any]:
        """POST /cases/{case_id}/erasure/withdraw: withdraw the open proposal (it can no longer be approved)."""
        return self._post(f"/cases/{_seg(case_id)}/erasure/withdraw")

    def erasure_state(self, case_id: str) -> dict[str, Any]:
        """GET /cases/{case_id}/erasure: erased or not (and when), and the erasure requests."""
        return self._get(f"/cases/{_seg(case_id)}/erasure")

    # -- admin --------------------------------------------------------------------------------
    def create_user(self, **fields: Any) -> dict[str, Any]:
        """POST /admin/users (username, password, role, ...)."""
        return self._post("/admin/users", fields)

    def list_users(self, **params: Any) -> list[dict[str, Any]]:
        """GET /admin/users (limit, offset)."""
        return _items(self._get("/admin/users", **params))

    def update_user(self, user_id: str, **fields: Any) -> dict[str, Any]:
        """PATCH /admin/users/{user_id} (role, agency, active)."""
        return self.request("PATCH", f"/admin/users/{_seg(user_id)}", json=_clean(fields))

    def access_log(self, *, case_id: str | None = None, user_id: str | None = None, outcome: str | None = None,
                   object_id: str | None = None, **params: Any) -> list[dict[str, Any]]:
        """GET /audit/access-log: sensitive reads (default), `outcome="refused"` refused attempts, or "all"."""
        return _items(self._get("/audit/access-log", case_id=case_id, user_id=user_id, outcome=outcome,
                                object_id=object_id, **params))

    def rotate_key(self) -> dict[str, Any]:
        """POST /admin/keys/rotate: rewrap every case key under the current centre key (counts)."""
        return self._post("/admin/keys/rotate")

    def reencrypt(self) -> dict[str, Any]:
        """POST /admin/keys/reencrypt: rewrite legacy (Fernet) values row-bound under their case keys (counts)."""
        return self._post("/admin/keys/reencrypt")

    def create_agency(self, name: str, kind: str) -> dict[str, Any]:
        """POST /admin/agencies: register a partner agency (police, crime-lab, prosecution, advocacy-org)."""
        return self._post("/admin/agencies", {"name": name, "kind": kind})

    def list_agencies(self) -> list[dict[str, Any]]:
        """GET /admin/agencies."""
        return _items(self._get("/admin/agencies"))

    # -- consent, exam, care, advocacy -----------------------------------------------------------
    def record_consent(self, case_id: str, **fields: Any) -> dict[str, Any]:
        """POST /cases/{case_id}/consents."""
        return self._post(f"/cases/{_seg(case_id)}/consents", fields)

    def list_consents(self, case_id: str) -> dict[str, Any]:
        """GET /cases/{case_id}/consents: {state: per-scope status now, decisions: [...], overrides: [...]}."""
        return self._get(f"/cases/{_seg(case_id)}/consents")

    def record_override(self, case_id: str, **fields: Any) -> dict[str, Any]:
        """POST /cases/{case_id}/overrides (e.g. a minor's mandatory report, with its legal basis)."""
        return self._post(f"/cases/{_seg(case_id)}/overrides", fields)

    def record_exam(self, case_id: str, **fields: Any) -> dict[str, Any]:
        """POST /cases/{case_id}/exam."""
        return self._post(f"/cases/{_seg(case_id)}/exam", fields)

    def get_exam(self, case_id: str) -> Any:
        """GET /cases/{case_id}/exam (sensitive; consent-checked for advocates)."""
        return self._get(f"/cases/{_seg(case_id)}/exam")

    def record_care(self, case_id: str, **fields: Any) -> dict[str, Any]:
        """POST /cases/{case_id}/care."""
        return self._post(f"/cases/{_seg(case_id)}/care", fields)

    def get_care(self, case_id: str) -> Any:
        """GET /cases/{case_id}/care."""
        return self._get(f"/cases/{_seg(case_id)}/care")

    def record_advocacy(self, case_id: str, **fields: Any) -> dict[str, Any]:
        """POST /cases/{case_id}/advocacy."""
        return self._post(f"/cases/{_seg(case_id)}/advocacy", fields)

    def get_advocacy(self, case_id: str) -> Any:
        """GET /cases/{case_id}/advocacy."""
        return self._get(f"/cases/{_seg(case_id)}/advocacy")

    def advocacy_overview(self, case_id: str) -> dict[str, Any]:
        """GET /cases/{case_id}/advocacy/overview: services, referrals with outcome, contacts, plan revisions."""
        return self._get(f"/cases/{_seg(case_id)}/advocacy/overview")

    def record_service(self, case_id: str, service: str, status: str) -> dict[str, Any]:
        """POST /cases/{case_id}/advocacy/services: a service offered, accepted or declined."""
        return self._post(f"/cases/{_seg(case_id)}/advocacy/services", {"service": service, "status": status})

    def record_referral(self, case_id: str, service: str, organisation: str) -> dict[str, Any]:
        """POST /cases/{case_id}/advocacy/referrals."""
        return self._post(f"/cases/{_seg(case_id)}/advocacy/referrals",
                          {"service": service, "organisation": organisation})

    def record_referral_outcome(self, case_id: str, referral_id: int, outcome: str) -> dict[str, Any]:
        """POST /cases/{case_id}/advocacy/referrals/{referral_id}/outcome."""
        return self._post(f"/cases/{_seg(case_id)}/advocacy/referrals/{int(referral_id)}/outcome",
                          {"outcome": outcome})

    def record_contact(self, case_id: str, kind: str, outcome: str, at: str | None = None) -> dict[str, Any]:
        """POST /cases/{case_id}/advocacy/contacts."""
        return self._post(f"/cases/{_seg(case_id)}/advocacy/contacts", {"kind": kind, "outcome": outcome, "at": at})

    def revise_safety_plan(self, case_id: str, notes: str) -> dict[str, Any]:
        """POST /cases/{case_id}/advocacy/safety-plans: a new revision (earlier ones kept)."""
        return self._post(f"/cases/{_seg(case_id)}/advocacy/safety-plans", {"notes": notes})

    def safety_plans(self, case_id: str, revision: int | None = None) -> list[dict[str, Any]]:
        """GET /cases/{case_id}/advocacy/safety-plans (access-logged)."""
        return _items(self._get(f"/cases/{_seg(case_id)}/advocacy/safety-plans", revision=revision))

    def follow_ups(self, case_id: str) -> list[dict[str, Any]]:
        """GET /cases/{case_id}/advocacy/follow-ups."""
        return _items(self._get(f"/cases/{_seg(case_id)}/advocacy/follow-ups"))

    def schedule_follow_ups(self, case_id: str) -> list[dict[str, Any]]:
        """POST /cases/{case_id}/advocacy/follow-ups: schedule the pack's follow-ups from the exam (once)."""
        return _items(self._post(f"/cases/{_seg(case_id)}/advocacy/follow-ups"))

    def record_follow_up_outcome(self, case_id: str, follow_up_id: int, outcome: str) -> dict[str, Any]:
        """POST /cases/{case_id}/advocacy/follow-ups/{id}/outcome: done, missed or declined."""
        return self._post(f"/cases/{_seg(case_id)}/advocacy/follow-ups/{int(follow_up_id)}/outcome",
                          {"outcome": outcome})

    def tasks(self) -> list[dict[str, Any]]:
        """GET /tasks: your work queue (follow-ups due on your cases, offers waiting for you)."""
        return _items(self._get("/tasks"))

    def alerts(self, **params: Any) -> list[dict[str, Any]]:
        """GET /alerts (deadline alerts the caller may see)."""
        return _items(self._get("/alerts", **params))

    def jurisdictions(self) -> Any:
        """GET /jurisdictions."""
        return self._get("/jurisdictions")

    def clocks(self, case_id: str) -> Any:
        """GET /cases/{case_id}/clocks (time-critical care and evidence windows)."""
        return self._get(f"/cases/{_seg(case_id)}/clocks")

    # -- evidence items and files ------------------------------------------------------------------
    def add_item(self, case_id: str, **fields: Any) -> dict[str, Any]:
        """POST /cases/{case_id}/items."""
        return self._post(f"/cases/{_seg(case_id)}/items", fields)

    def list_items(self, case_id: str) -> list[dict[str, Any]]:
        """GET /cases/{case_id}/items."""
        return _items(self._get(f"/cases/{_seg(case_id)}/items"))

    def get_item(self, item_id: str) -> dict[str, Any]:
        """GET /items/{item_id}."""
        return self._get(f"/items/{_seg(item_id)}")

    def custody(self, item_id: str) -> list[dict[str, Any]]:
        """GET /items/{item_id}/custody: the item's custody history."""
        return _items(self._get(f"/items/{_seg(item_id)}/custody"))

    def upload_file(self, item_id: str, fileobj: IO[bytes], filename: str | None = None, *,
                    size: int | None = None, content_type: str = "application/octet-stream",
                    progress: Progress | None = None) -> Any:
        """PUT /items/{item_id}/file streaming `fileobj` in chunks (never read whole into memory).

        The optional file name travels in Content-Disposition (RFC 6266), not in the URL (URLs are logged).
        """
        total = size if size is not None else _file_size(fileobj)
        headers = {"Content-Type": content_type}
        if total is not None:  # a known length lets the server refuse oversize uploads before reading
            headers["Content-Length"] = str(total)
        if filename is not None:
            headers["Content-Disposition"] = "attachment; filename*=UTF-8''" + quote(filename, safe="")
        response = self._send("PUT", f"/items/{_seg(item_id)}/file",
                              content=_iter_file(fileobj, total, progress), headers=headers)
        return response.json() if response.content else None

    def download_file(self, item_id: str, out: IO[bytes], *, file_id: str | None = None,
                      progress: Progress | None = None) -> Download:
        """GET /items/{item_id}/file streamed into `out`; returns size and the server's X-Content-SHA256."""
        return self._download(f"/items/{_seg(item_id)}/file", out, params={"file_id": file_id}, progress=progress)

    def _download(self, path: str, out: IO[bytes], *, params: Mapping[str, Any] | None = None,
                  progress: Progress | None = None) -> Download:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        response = self._send("GET", path, params=params, stream=True, headers={"Accept": "*/*"})
        try:
            length = response.headers.get("content-length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            try:
                for chunk in response.iter_bytes(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
            except httpx.HTTPError as exc:  # the server aborts a stream whose stored bytes fail their hash
                raise ApiError(0, "download interrupted", f"after {done} bytes: {exc}") from exc
            if total is not None and done != total:
                raise ApiError(0, "download incomplete", f"received {done} of {total} bytes")
            h = response.headers
            sha = h.get("x-content-sha256") or h.get("x-checksum-sha256") or _digest_sha256(h.get("digest"))
            return Download(bytes=done, sha256=sha, content_type=h.get("content-type"),
                            filename=_filename_from(h.get("content-disposition")))
        finally:
            response.close()

    def label(self, item_id: str, fmt: str = "png", size: str = "62mm") -> bytes:
        """GET /items/{item_id}/label.png|label.pdf?size=62mm|62x100mm|2x1in: the printable label."""
        if fmt not in ("png", "pdf"):
            raise ValueError("label format is png or pdf")
        return self._send("GET", f"/items/{_seg(item_id)}/label.{fmt}", params={"size": size},
                          headers={"Accept": "*/*"}).content

    # -- custody --------------------------------------------------------------------------------
    def seal(self, item_id: str, **fields: Any) -> dict[str, Any]:
        """POST /items/{item_id}/seal (seal number, condition)."""
        return self._post(f"/items/{_seg(item_id)}/seal", fields)

    def offer_transfer(self, item_id: str, **fields: Any) -> dict[str, Any]:
        """POST /items/{item_id}/transfers: offer the item to another custodian."""
        return self._post(f"/items/{_seg(item_id)}/transfers", fields)

    def accept_transfer(self, transfer_id: str, **fields: Any) -> dict[str, Any]:
        """POST /transfers/{transfer_id}/accept: the receiver confirms."""
        return self._post(f"/transfers/{_seg(transfer_id)}/accept", fields)

    def decline_transfer(self, transfer_id: str, **fields: Any) -> dict[str, Any]:
        """POST /transfers/{transfer_id}/decline: the receiver refuses (fields: reason)."""
        return self._post(f"/transfers/{_seg(transfer_id)}/decline", fields)

    def cancel_transfer(self, transfer_id: str, **fields: Any) -> dict[str, Any]:
        """POST /transfers/{transfer_id}/cancel: the offering custodian withdraws the offer (fields: reason)."""
        return self._post(f"/transfers/{_seg(transfer_id)}/cancel", fields)

    def inbox(self) -> list[dict[str, Any]]:
        """GET /inbox: the open offers addressed to you, across cases (officers, lab staff)."""
        return _items(self._get("/inbox"))

    def check_in(self, item_id: str, **fields: Any) -> dict[str, Any]:
        """POST /items/{item_id}/check-in."""
        return self._post(f"/items/{_seg(item_id)}/check-in", fields)

    def check_out(self, item_id: str, **fields: Any) -> dict[str, Any]:
        """POST /items/{item_id}/check-out."""
        return self._post(f"/items/{_seg(item_id)}/check-out", fields)

    def scan(self, item_id: str, **fields: Any) -> dict[str, Any]:
        """POST /items/{item_id}/scan: a barcode scan that checks the item in or out."""
        return self._post(f"/items/{_seg(item_id)}/scan", fields)

    def release(self, item_id: str, **fields: Any) -> dict[str, Any]:
        """POST /items/{item_id}/release (needs the written release consent)."""
        return self._post(f"/items/{_seg(item_id)}/release", fields)

    def lab_submission(self, item_id: str, **fields: Any) -> dict[str, Any]:
        """POST /items/{item_id}/lab-submission."""
        return self._post(f"/items/{_seg(item_id)}/lab-submission", fields)

    def analysis(self, item_id: str, **fields: Any) -> dict[str, Any]:
        """POST /items/{item_id}/analysis."""
        return self._post(f"/items/{_seg(item_id)}/analysis", fields)

    def destroy(self, item_id: str, **fields: Any) -> dict[str, Any]:
        """POST /items/{item_id}/destroy: PROPOSE the destruction (reason, authority_ref); another person approves."""
        return self._post(f"/items/{_seg(item_id)}/destroy", fields)

    def approve_destruction(self, item_id: str) -> dict[str, Any]:
        """POST /items/{item_id}/destruction/approve: a second, different person; the item is destroyed."""
        return self._post(f"/items/{_seg(item_id)}/destruction/approve")

    def pending_destruction(self, item_id: str) -> dict[str, Any] | None:
        """GET /items/{item_id}/destruction: the proposal awaiting approval, or None."""
        return self._get(f"/items/{_seg(item_id)}/destruction")

    # -- destruction notices (18 U.S.C. 3772) -------------------------------------------------------
    def request_notice(self, case_id: str, **fields: Any) -> dict[str, Any]:
        """POST /cases/{case_id}/notice-request (kind + value, or no_contact=True): the value is never echoed."""
        return self._post(f"/cases/{_seg(case_id)}/notice-request", fields)

    def notice_contact(self, case_id: str) -> dict[str, Any]:
        """GET /cases/{case_id}/notice-contact: the survivor's contact for the notice (access-logged)."""
        return self._get(f"/cases/{_seg(case_id)}/notice-contact")

    def case_notices(self, case_id: str) -> list[dict[str, Any]]:
        """GET /cases/{case_id}/notices: the case's notice tasks (upcoming, due, sent)."""
        return _items(self._get(f"/cases/{_seg(case_id)}/notices"))

    def due_notices(self, within_days: int = 0) -> list[dict[str, Any]]:
        """GET /notices/due: notices due now (or within `within_days`), soonest first."""
        return _items(self._get("/notices/due", within_days=within_days))

    def notice_sent(self, case_id: str, item_id: str | None = None) -> list[dict[str, Any]]:
        """POST /cases/{case_id}/notices/sent: record the notice sent (one item, or every due item)."""
        return _items(self._post(f"/cases/{_seg(case_id)}/notices/sent", {"item_id": item_id}))

    def notice_failed(self, case_id: str, reason: str, item_id: str | None = None) -> list[dict[str, Any]]:
        """POST /cases/{case_id}/notices/failed: record a failed delivery (reason from a closed set)."""
        return _items(self._post(f"/cases/{_seg(case_id)}/notices/failed", {"reason": reason, "item_id": item_id}))

    def survivor_notice_request(self, code: str, password: str, **fields: Any) -> dict[str, Any]:
        """POST /status/requests: the survivor's own notice request with the lookup code + password (no auth)."""
        return self._post("/status/requests", {"code": code, "password": password, **fields})

    def legal_hold(self, item_id: str, **fields: Any) -> dict[str, Any]:
        """POST /items/{item_id}/legal-hold."""
        return self._post(f"/items/{_seg(item_id)}/legal-hold", fields)

    def extend_preservation(self, item_id: str, *, until: str | None = None,
                            requested_by: str = "staff") -> dict[str, Any]:
        """POST /items/{item_id}/preservation: keep the item and its files' lock until `until` (None: the pack's
        default extension); never shorter."""
        return self._post(f"/items/{_seg(item_id)}/preservation", {"until": until, "requested_by": requested_by})

    def extend_case_preservation(self, case_id: str, *, until: str | None = None,
                                 requested_by: str = "staff") -> list[dict[str, Any]]:
        """POST /cases/{case_id}/preservation: every kept item of the case at least until `until`."""
        return self._post(f"/cases/{_seg(case_id)}/preservation", {"until": until, "requested_by": requested_by})

    def purge_files(self) -> dict[str, Any]:
        """POST /admin/purge: delete destroyed items' files whose Object Lock has ended (ids of what went/stays)."""
        return self._post("/admin/purge")

    def report_incident(self, item_id: str, **fields: Any) -> dict[str, Any]:
        """POST /items/{item_id}/integrity-incidents (fields: reason, source seal|report): quarantines the item."""
        return self._post(f"/items/{_seg(item_id)}/integrity-incidents", fields)

    def incidents(self, item_id: str | None = None, *, open_only: bool = True) -> list[dict[str, Any]]:
        """GET /items/{item_id}/integrity-incidents, or centre-wide GET /integrity-incidents (open ones unless
        open_only=False)."""
        if item_id is not None:
            return _items(self._get(f"/items/{_seg(item_id)}/integrity-incidents"))
        return _items(self._get("/integrity-incidents", open_only=str(open_only).lower()))

    def resolve_incident(self, item_id: str, incident_id: int, **fields: Any) -> dict[str, Any]:
        """POST /items/{item_id}/integrity-incidents/{incident_id}/resolve (fields: finding, outcome)."""
        return self._post(f"/items/{_seg(item_id)}/integrity-incidents/{int(incident_id)}/resolve", fields)

    def enrol_status_lookup(self, item_id: str) -> dict[str, Any]:
        """POST /items/{item_id}/status-lookup: {code, password} for the survivor's card (needs their consent)."""
        return self._post(f"/items/{_seg(item_id)}/status-lookup")

    def issue_status_card(self, item_id: str) -> bytes:
        """POST /items/{item_id}/status-card: a new survivor card (PDF); the item's earlier cards stop working."""
        return self._send("POST", f"/items/{_seg(item_id)}/status-card", headers={"Accept": "*/*"}).content

    def contact_requests(self, limit: int = 200, *, state: str = "open") -> list[dict[str, Any]]:
        """GET /status-requests: survivors' "please contact me about my kit" requests of the caller's cases (a
        coordinator: every case's), newest first; state "open" (default) or "all" (handled ones too)."""
        return _items(self._get("/status-requests", limit=limit, state=state))

    def contact_handled(self, seq: int, outcome: str) -> dict[str, Any]:
        """POST /status-requests/{seq}/handled: close a contact request with its outcome
        (reached | left-message | no-answer | unreachable)."""
        return self._post(f"/status-requests/{int(seq)}/handled", {"outcome": outcome})

    def status_lookup(self, code: str, password: str) -> dict[str, Any]:
        """POST /status/lookup: a survivor's anonymous kit-status lookup (no auth, rate-limited)."""
        return self._post("/status/lookup", {"code": code, "password": password})

    # -- audit ----------------------------------------------------------------------------------
    def audit_log(self, **params: Any) -> list[dict[str, Any]]:
        """GET /audit/log (ledger entries; filter by case_id, item_id, kind, after_seq, limit)."""
        return _items(self._get("/audit/log", **params))

    def audit_verify(self, *, deep: bool = False) -> dict[str, Any]:
        """GET /audit/verify: the server recomputes the hash chain and Merkle tree ({ok, entries, ...})."""
        return self._get("/audit/verify", deep=str(deep).lower() if deep else None)

    def tree_head(self) -> dict[str, Any]:
        """GET /audit/tree-head: the signed tree head."""
        return self._get("/audit/tree-head")

    def public_key(self) -> dict[str, Any]:
        """GET /audit/public-key: {algorithm, public_key_pem, fingerprint} (what verify-bundle needs offline)."""
        return self._get("/audit/public-key")

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> dict[str, Any]:
        """GET /audit/proofs/inclusion."""
        return self._get("/audit/proofs/inclusion", seq=seq, tree_size=tree_size)

    def consistency_proof(self, first: int, second: int | None = None) -> dict[str, Any]:
        """GET /audit/proofs/consistency."""
        return self._get("/audit/proofs/consistency", first=first, second=second)

    def export_bundle(self, *, case_id: str | None = None, item_id: str | None = None,
                      allow_unverified: bool = False) -> dict[str, Any]:
        """GET /audit/export: the signed JSON evidence bundle of a case or an item (409 when the ledger does not
        verify, unless `allow_unverified`: the bundle then says so in `ledger_verification`)."""
        return self._get("/audit/export", case_id=case_id, item_id=item_id,
                         allow_unverified="true" if allow_unverified else None)

    def export_pdf(self, out: IO[bytes], *, case_id: str | None = None, item_id: str | None = None,
                   progress: Progress | None = None, allow_unverified: bool = False) -> Download:
        """GET /audit/export.pdf streamed into `out` (refused like export_bundle; marked on every page)."""
        params = {"case_id": case_id, "item_id": item_id, "allow_unverified": "true" if allow_unverified else None}
        return self._download("/audit/export.pdf", out, params=params, progress=progress)

    # -- sessions and agency accountability (refresh, logout, compliance report) ---------------------------
    def refresh(self) -> Token:
        """POST /auth/refresh: a new access token and the next refresh token (the one used is spent)."""
        if not self._refresh_token:
            raise ApiError(401, "Unauthorized", "no refresh token: log in again")
        spent, self._refresh_token = self._refresh_token, None  # never retried: a replay ends the session
        token = Token.model_validate(self.request("POST", "/auth/refresh", json={"refresh_token": spent}))
        self._token, self._refresh_token = token.access_token, token.refresh_token
        if self._on_tokens is not None:
            self._on_tokens(token)
        return token

    def logout(self) -> None:
        """POST /auth/logout: end this login's session (its refresh tokens are refused from now on)."""
        if self._refresh_token:
            self.request("POST", "/auth/logout", json={"refresh_token": self._refresh_token})
        self._token = self._refresh_token = None

    def change_password(self, current_password: str, new_password: str) -> None:
        """POST /auth/password: replace your own local password (every other login of yours ends)."""
        self.request("POST", "/auth/password", json={"current_password": current_password,
                                                     "new_password": new_password})

    def compliance_report(self, agency: str, *, start: str | None = None, end: str | None = None,
                          fmt: str = "json") -> Any:
        """GET /reports/compliance: the receiving agency's handoffs and overdue deadlines (JSON dict; CSV text;
        PDF bytes)."""
        params = {k: v for k, v in {"agency": agency, "from": start, "to": end, "format": fmt}.items()
                  if v is not None}
        if fmt == "pdf":
            response = self._send("GET", "/reports/compliance", params=params, headers={"Accept": "*/*"})
            return response.content
        return self.request("GET", "/reports/compliance", params=params)

    # -- multidisciplinary case review ------------------------------------------------------
    def schedule_review(self, case_id: str, participants: list[str], scheduled_for: str) -> Any:
        """POST /cases/{case_id}/reviews: participants are usernames (or user ids)."""
        return self._post(f"/cases/{_seg(case_id)}/reviews",
                          {"participants": list(participants), "scheduled_for": scheduled_for})

    def review(self, review_id: str) -> Any:
        """GET /reviews/{review_id}: the review as the caller may see it (consent-filtered, access-logged)."""
        return self._get(f"/reviews/{_seg(review_id)}")

    def review_decide(self, review_id: str, text: str | None = None) -> Any:
        """POST /reviews/{review_id}/decisions."""
        return self._post(f"/reviews/{_seg(review_id)}/decisions", {"text": text})

    def review_action_add(self, review_id: str, owner_agency: str, due_at: str, *, text: str | None = None,
                          decision_id: int | None = None) -> Any:
        """POST /reviews/{review_id}/actions: owner agency by name (required) and due date."""
        return self._post(f"/reviews/{_seg(review_id)}/actions", {"owner_agency": owner_agency, "due_at": due_at,
                                                                  "text": text, "decision_id": decision_id})

    def review_action_done(self, action_id: int) -> Any:
        """POST /review-actions/{action_id}/done."""
        return self._post(f"/review-actions/{int(action_id)}/done")

    def review_reschedule(self, review_id: str, scheduled_for: str) -> Any:
        """POST /reviews/{review_id}/reschedule: a new time (ISO, with offset)."""
        return self._post(f"/reviews/{_seg(review_id)}/reschedule", {"scheduled_for": scheduled_for})

    def review_add_participant(self, review_id: str, participant: str) -> Any:
        """POST /reviews/{review_id}/participants: one more participant, by username."""
        return self._post(f"/reviews/{_seg(review_id)}/participants", {"participant": participant})

    def review_remove_participant(self, review_id: str, participant: str) -> Any:
        """DELETE /reviews/{review_id}/participants/{username}."""
        return self.request("DELETE", f"/reviews/{_seg(review_id)}/participants/{_seg(participant)}")

    def review_cancel(self, review_id: str, reason: str) -> Any:
        """POST /reviews/{review_id}/cancel: reason from the closed list (policies.review.CancelReason)."""
        return self._post(f"/reviews/{_seg(review_id)}/cancel", {"reason": reason})

    def case_reviews(self, case_id: str) -> Any:
        """GET /cases/{case_id}/reviews: every review of a case you are assigned to."""
        return self._get(f"/cases/{_seg(case_id)}/reviews")

    def my_reviews(self, past: bool = False) -> Any:
        """GET /reviews: your upcoming reviews (`past`: also past and cancelled ones)."""
        return self._get("/reviews", past="true" if past else None)

    def funder_report(self, fy: int | None = None, *, start: str | None = None, end: str | None = None,
                      jurisdiction: str | None = None, fmt: str = "json") -> Any:
        """GET /reports/funder: aggregate counts of a federal fiscal year (or a range inside one), small cells
        suppressed (JSON dict; CSV text; PDF bytes)."""
        params = {k: v for k, v in {"fy": fy, "from": start, "to": end, "jurisdiction": jurisdiction,
                                    "format": fmt}.items() if v is not None}
        if fmt == "pdf":
            return self._send("GET", "/reports/funder", params=params, headers={"Accept": "*/*"}).content
        return self.request("GET", "/reports/funder", params=params)


def _seg(value: str) -> str:
    """Quote a path segment so a scanned code with '/' or '?' cannot reach another route."""
    return quote(str(value), safe="")


def _clean(body: Mapping[str, Any]) -> dict[str, Any]:
    """Drop unset (None) fields so the server applies its defaults."""
    return {k: v for k, v in body.items() if v is not None}


def _items(body: Any) -> list[dict[str, Any]]:
    """Lists come bare or wrapped ({"items": [...]}) depending on the route; give callers a list."""
    if isinstance(body, dict):
        for key in ("items", "results", "entries", "data"):
            if isinstance(body.get(key), list):
                return body[key]
    return body if isinstance(body, list) else [body] if body else []


def _digest_sha256(digest: str | None) -> str | None:
    """The hex SHA-256 from an RFC 3230 `Digest: sha-256=<base64>` header, if present."""
    if not digest:
        return None
    for part in digest.split(","):
        algo, _, value = part.strip().partition("=")
        if algo.lower() == "sha-256" and value:
            try:
                return base64.b64decode(value).hex()
            except ValueError:
                return None
    return None
