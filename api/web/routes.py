"""GET/POST /status: the survivor's kit page, rendered on the server (api.web). Public: a card's code and
temporary password are the only credential; no account, no cookie, no JavaScript.

Every HTML answer carries a strict Content-Security-Policy (our own stylesheet only, forms to ourselves),
`Referrer-Policy: no-referrer` and `Cache-Control: no-store`. A wrong code, a wrong password, a locked and a
revoked card give the same page (evidence.lookup_guard does the same work for each); attempts are throttled
per client address and per code (the app's lookup limiter) and a card locks after
`settings.lookup_max_failures` failures in a row.

The kit page's requests (POST /status/contact, /status/notice, /status/extend) carry the signed form token
(api.web.tokens); a missing, forged or expired token gets exactly the wrong-password page. One card's requests
share a window of the lookup limiter (429, "too many tries"); "please contact me" while an earlier one is open
records nothing more. Notice and extension are recorded by evidence.lookup_requests like the same requests
through staff; the contact value is never echoed, logged or put in a URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse

from api.deps import ClockDep, CommitRoute, SessionDep, SettingsDep, get_app_store
from api.ratelimit import client_key
from api.web import i18n
from api.web.tokens import form_key, make_token, read_session
from core.errors import Erased, RateLimited, ValidationFailed
from evidence import lookup_guard, lookup_page, lookup_requests
from evidence.lookup_models import KitLookup
from evidence.lookup_rules import MAX_YEARS_AHEAD, NOTICE_KINDS, ExtensionRefused, parse_years, typed_code

router = APIRouter(route_class=CommitRoute, include_in_schema=False)

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
           "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Vary": "Accept-Language"}
CSS = Path(__file__).parent / "static" / "status.css"
MAX_FIELDS = 8


async def form_fields(request: Request) -> dict[str, str]:
    """The urlencoded form body as {name: first value} (at most MAX_FIELDS fields; anything else: empty)."""
    raw = await request.body()
    try:
        parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        return {}
    return {k: v[0] for k, v in parsed.items()}


FormDep = Annotated[dict[str, str], Depends(form_fields)]


def _lang(request: Request, form: dict[str, str] | None = None) -> str:
    asked = (form or {}).get("lang") or request.query_params.get("lang")
    return i18n.choose(asked, request.headers.get("accept-language"))


def _page(template: str, lang: str, settings: Any, status: int = 200, **ctx: Any) -> HTMLResponse:
    html = i18n.environment(lang).get_template(template).render(
        lang=lang, languages=i18n.LANGUAGES, contact=settings.centre_contact, **ctx)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


@router.get("/status/status.css")
def status_css() -> FileResponse:
    """The page's only stylesheet (ours, no third-party assets)."""
    return FileResponse(CSS, media_type="text/css",
                        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})


@router.get("/status", response_class=HTMLResponse)
def status_form(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The form: code and temporary password from the card."""
    return _page("form.html", _lang(request), settings)


def _kit_page(session: Any, settings: Any, clock: Any, row: KitLookup, lang: str, since: int | None = None,
              **ctx: Any) -> HTMLResponse:
    """The kit page; its forms' token keeps `since` (when the password was given: None = now)."""
    now = clock.now()
    view = lookup_page.kit_view(session, row, data_dir=settings.data_dir, now=now)
    requests = lookup_requests.requests_view(session, row, now=now)
    return _page("kit.html", lang, settings, view=view, requests=requests,
                 token=make_token(row.code, now, form_key(settings), since),
                 kept_until=lookup_requests.kept_until(session, row), notice_kinds=NOTICE_KINDS,
                 max_years=MAX_YEARS_AHEAD, **ctx)


def _refused(lang: str, settings: Any) -> HTMLResponse:
    """A missing, forged or expired form token: exactly the answer to a wrong code or password."""
    return _page("form.html", lang, settings, status=401, error="wrong")


@router.post("/status", response_class=HTMLResponse)
def status_lookup_page(request: Request, form: FormDep, session: SessionDep, settings: SettingsDep,
                       clock: ClockDep) -> HTMLResponse:
    """Code + password → the kit page; anything wrong → the form again with one and the same message."""
    lang = _lang(request, form)
    code, password = typed_code(form.get("code", "")), form.get("password", "").strip()[:128]
    if not code or not password:
        return _page("form.html", lang, settings, status=422, error="missing", code=code)
    client = client_key(request)
    try:
        request.app.state.lookup_limiter.hit(f"lookup-ip:{client}", f"lookup-code:{code}")
    except RateLimited:
        return _page("form.html", lang, settings, status=429, error="throttled")
    row = lookup_guard.check_credentials(session, code=code, password=password,
                                         max_failures=settings.lookup_max_failures, now=clock.now())
    if row is None:  # committed with the request: the failure counts
        return _page("form.html", lang, settings, status=401, error="wrong")
    return _kit_page(session, settings, clock, row, lang)


def _card_from_token(session: Any, form: dict[str, str], clock: Any, settings: Any) -> tuple[KitLookup, int] | None:
    """The usable card of a valid form token and when its password was given, else None."""
    found = read_session(form.get("token", ""), clock.now(), form_key(settings))
    row = session.get(KitLookup, found[0]) if found else None
    usable = row is not None and row.locked_at is None and row.revoked_at is None
    return (row, found[1]) if usable and found else None


def _request_throttled(request: Request, row: KitLookup) -> bool:
    """Each card's requests (contact, notice, keep longer) share one window of the lookup limiter: a card (or a
    stolen one) cannot write to the append-only ledger without limit from the public page."""
    try:
        request.app.state.lookup_limiter.hit(f"page-requests:{row.code}")
    except RateLimited:
        return True
    return False


@router.post("/status/view", response_class=HTMLResponse)
def status_view(request: Request, form: FormDep, session: SessionDep, settings: SettingsDep,
                clock: ClockDep) -> HTMLResponse:
    """The kit page again (another language) for a holder of a valid form token; else the form."""
    lang = _lang(request, form)
    card = _card_from_token(session, form, clock, settings)
    if card is None:
        return _refused(lang, settings)
    row, since = card
    return _kit_page(session, settings, clock, row, lang, since)


@router.post("/status/contact", response_class=HTMLResponse)
def status_contact(request: Request, form: FormDep, session: SessionDep, settings: SettingsDep,
                   clock: ClockDep) -> HTMLResponse:
    """"Please contact me about my kit": recorded for the centre's staff (ledger), then the kit page again."""
    lang = _lang(request, form)
    card = _card_from_token(session, form, clock, settings)
    if card is None:
        return _refused(lang, settings)
    row, since = card
    if _request_throttled(request, row):
        return _page("form.html", lang, settings, status=429, error="throttled")
    lookup_page.request_contact(session, row, now=clock.now())  # a second press while open records nothing
    return _kit_page(session, settings, clock, row, lang, since, contact_requested=True)


def _notice_error(kind: str, value: str) -> str:
    """Which message the page shows for a refused notice request (never the value itself)."""
    if kind not in NOTICE_KINDS:
        return "notice-choose"
    if not value:
        return "notice-missing"
    return {"email": "notice-email", "sms": "notice-phone", "phone": "notice-phone"}.get(kind, "notice-invalid")


@router.post("/status/notice", response_class=HTMLResponse)
def status_notice(request: Request, form: FormDep, session: SessionDep, settings: SettingsDep,
                  clock: ClockDep) -> HTMLResponse:
    """Notice before destruction (a channel and its value, or no contact), recorded as staff record it
    (evidence.lookup_requests); the page confirms without repeating the contact."""
    lang = _lang(request, form)
    card = _card_from_token(session, form, clock, settings)
    if card is None:
        return _refused(lang, settings)
    row, since = card
    if _request_throttled(request, row):
        return _page("form.html", lang, settings, status=429, error="throttled")
    kind, value = form.get("kind", ""), form.get("value", "").strip()
    if kind == "none":
        value = ""  # "do not contact me" keeps nothing that was typed
    try:
        lookup_requests.request_notice_from_page(session, row, kind=kind, value=value or None, now=clock.now())
    except ValidationFailed:
        return _kit_page(session, settings, clock, row, lang, since, status=422, error=_notice_error(kind, value))
    except Erased:  # the case's key was destroyed (lawful erasure): nothing of the request may stay recorded
        session.rollback()
        return _kit_page(session, settings, clock, row, lang, since, status=410, error="notice-erased")
    return _kit_page(session, settings, clock, row, lang, since, notice_done=kind)


@router.post("/status/extend", response_class=HTMLResponse)
def status_extend(request: Request, form: FormDep, session: SessionDep, settings: SettingsDep,
                  clock: ClockDep) -> HTMLResponse:
    """"Keep my kit longer": N more years (evidence.lookup_rules), recorded as a staff extension is; the page
    then shows the new date. A destroyed kit, a choice not offered or too far ahead: the page says why."""
    lang = _lang(request, form)
    card = _card_from_token(session, form, clock, settings)
    if card is None:
        return _refused(lang, settings)
    row, since = card
    if _request_throttled(request, row):
        return _page("form.html", lang, settings, status=429, error="throttled")
    try:
        years = parse_years(form.get("years"))
        result = lookup_requests.request_extension_from_page(session, get_app_store(request), row, years=years,
                                                             now=clock.now())
    except ExtensionRefused as exc:
        return _kit_page(session, settings, clock, row, lang, since, status=422 if exc.reason == "choice" else 409,
                         error=f"extend-{exc.reason}")
    except lookup_requests.KitDestroyed:
        return _kit_page(session, settings, clock, row, lang, since, status=409, error="extend-destroyed")
    return _kit_page(session, settings, clock, row, lang, since, extended=result.retention_until)
