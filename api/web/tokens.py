"""The signed form token of the status page: after a correct code + password, the page's forms (contact
request, notice request, keep-longer request, language switch) carry a token in a hidden field instead of the
password: `<code>.<expiry>.<since>.<HMAC>`, `since` being when the password was given. It lives TOKEN_TTL_S
seconds and every kit page carries a fresh one, but never beyond SESSION_MAX_S after `since` (a page kept open,
or a copied token, does not outlive the password for long). It is signed with a key derived from the centre's
secret (`form_key(settings)`: HMAC of identity_key with this purpose's label), so every API process of a
deployment (several behind one address) accepts the forms the others rendered; without a centre secret, a key
made at process start. No cookie is set; the token never appears in a URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

TOKEN_TTL_S = 15 * 60
SESSION_MAX_S = 2 * 60 * 60  # the card's password again after two hours, however active the page
_KEY = secrets.token_bytes(32)
_LABEL = b"coc/status-page/form-token/v1"


def form_key(settings: Any) -> bytes:
    """The token key of a deployment: derived from its centre secret (the same in every API process), else
    the process's own."""
    secret = getattr(settings, "identity_key", None)
    if secret is None:
        return _KEY
    return hmac.new(settings.secret("identity_key").encode("utf-8"), _LABEL, hashlib.sha256).digest()


def _mac(payload: str, key: bytes | None) -> str:
    digest = hmac.new(key or _KEY, payload.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def make_token(code: str, now: datetime, key: bytes | None = None, since: int | None = None) -> str:
    """A token for `code` valid for TOKEN_TTL_S seconds from `now`, and not beyond SESSION_MAX_S after `since`
    (when the password was given; default now), signed with `key` (see form_key)."""
    since = int(now.timestamp()) if since is None else since
    expiry = min(int(now.timestamp()) + TOKEN_TTL_S, since + SESSION_MAX_S)
    payload = f"{code}.{expiry}.{since}"
    return f"{payload}.{_mac(payload, key)}"


def read_session(token: str, now: datetime, key: bytes | None = None) -> tuple[str, int] | None:
    """(code, since) of a valid, unexpired token (signed with `key`), else None."""
    try:
        code, expiry, since, mac = token.split(".")
        payload = f"{code}.{expiry}.{since}"
        if not (payload.isascii() and mac.isascii()) or not hmac.compare_digest(mac, _mac(payload, key)):
            return None
        if int(expiry) < now.timestamp() or int(since) + SESSION_MAX_S < now.timestamp():
            return None
        return code, int(since)
    except ValueError:
        return None


def read_token(token: str, now: datetime, key: bytes | None = None) -> str | None:
    """The code a valid, unexpired token (signed with `key`) was made for, else None."""
    session = read_session(token, now, key)
    return session[0] if session else None
