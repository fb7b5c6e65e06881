"""A strict Content-Disposition parser for uploads (RFC 6266, filename* per RFC 8187): a header that does not
parse is refused (400), never read loosely into a file name.

email.message's lenient parser took `filename*=bogus''abc` as "abc", `%ZZ` as a literal, and undecodable bytes
as U+FFFD; here the disposition type, every parameter, the charset (UTF-8 or ISO-8859-1) and every
percent-escape must be valid, and the decoded name must hold no control characters.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException

_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\\x00-\x1f\x7f]|\\[\x20-\x7e])*"'
_PARAM = re.compile(rf"\s*;\s*({_TCHARS})\s*=\s*({_TCHARS}|{_QUOTED})\s*")
_TYPE = re.compile(rf"\s*({_TCHARS})\s*")
_EXT_VALUE = re.compile(r"([A-Za-z0-9!#$&+^_`{}~-]+)'([A-Za-z0-9-]*)'((?:%[0-9A-Fa-f]{2}|[A-Za-z0-9!#$&+.^_`|~-])*)")
_CHARSETS = {"utf-8": "utf-8", "iso-8859-1": "latin-1"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

HELP = "send Content-Disposition: attachment; filename*=UTF-8''<percent-encoded name>"


def _bad(why: str) -> HTTPException:
    return HTTPException(400, f"the Content-Disposition header is malformed ({why}): {HELP}")


def upload_filename(value: str | None) -> str | None:
    """The file name of an upload's Content-Disposition header, or None when there is none; 400 when malformed."""
    if value is None or not value.strip():
        return None
    match = _TYPE.match(value)
    if not match or match.group(1).lower() not in {"attachment", "inline", "form-data"}:
        raise _bad("the disposition type must be attachment")
    params: dict[str, str] = {}
    pos = match.end()
    while pos < len(value):
        param = _PARAM.match(value, pos)
        if not param:
            raise _bad("a parameter is not name=value")
        name = param.group(1).lower()
        if name in params:
            raise _bad(f"the parameter {name} is given twice")
        params[name] = param.group(2)
        pos = param.end()
    if "filename*" in params:
        name = _extended(params["filename*"])
    elif "filename" in params:
        raw = params["filename"]
        name = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw
    else:
        return None
    if not name or _CONTROL.search(name):
        raise _bad("the file name is empty or holds control characters")
    return name


def _extended(value: str) -> str:
    """Decode an RFC 8187 ext-value (charset'language'percent-encoded)."""
    match = _EXT_VALUE.fullmatch(value)
    if not match:
        raise _bad("filename* is not charset'language'percent-encoded-name")
    charset = _CHARSETS.get(match.group(1).lower())
    if charset is None:
        raise _bad(f"the charset {match.group(1)[:20]!r} is not UTF-8")
    try:
        return unquote_to_bytes(match.group(3)).decode(charset, errors="strict")
    except UnicodeDecodeError:
        raise _bad("the percent-encoded name is not valid UTF-8") from None
