"""The signed form token of the status page: after a correct code + password, the page's forms (contact
request, notice request, keep-longer request, language switch) carry `<code>.<expiry>.<HMAC>` in a hidden
field instead of the password. It lives TOKEN_TTL_S seconds and is signed with a key made at process start (a
restart simply asks for the card again). No cookie is set; the token never appears in a URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

TOKEN_TTL_S = 15 * 60
_KEY = secrets.token_bytes(32)


def _mac(payload: str) -> str:
    digest = hmac.new(_KEY, payload.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def make_token(code: str, now: datetime) -> str:
    """A token for `code` valid for TOKEN_TTL_S seconds from `now`."""
    payload = f"{code}.{int(now.timestamp()) + TOKEN_TTL_S}"
    return f"{payload}.{_mac(payload)}"


def read_token(token: str, now: datetime) -> str | None:
    """The code a valid, unexpired token was made for, else None."""
    try:
        code, expiry, mac = token.split(".")
        payload = f"{code}.{expiry}"
        if not (payload.isascii() and mac.isascii()) or not hmac.compare_digest(mac, _mac(payload)):
            return None
        if int(expiry) < now.timestamp():
            return None
    except ValueError:
        return None
    return code
