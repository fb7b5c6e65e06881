"""PURE: what a survivor may ask for on the status page (no Session, no text).

Extension of preservation from the page: the card holder chooses one of EXTENSION_YEARS more years. The new date
is counted from the later of now and the kit's current "kept until" date (the same base as a pack's default
extension, policies.retention.extended_until), in calendar years (29 February becomes 28 February), and may not
lie more than MAX_YEARS_AHEAD years after now: a longer keep is for the centre's staff to record (the page says
so). Packs do not set a survivor default (`default_extension_days` is the staff's no-date extension).

Notice before destruction from the page: the channel kinds the page's form offers (the same closed set staff use,
policies.notice.ChannelKind), "none" meaning "do not contact me".
"""

from __future__ import annotations

from datetime import datetime

EXTENSION_YEARS = (1, 2, 5)  # the choices the page offers
MAX_YEARS_AHEAD = 50  # a survivor may not push the date further than this many years from now (packs keep
# unreported kits for decades already; beyond half a century the centre's staff decide)
NOTICE_KINDS = ("email", "sms", "phone", "postal", "none")  # the form's order


CODE_MAX = 32  # kit_lookup.code's column


def typed_code(raw: str) -> str:
    """The lookup code as a person types it, read one way everywhere (the page, the JSON lookup, the notice
    request, their per-code windows): spaces and dashes dropped, upper case, at most CODE_MAX characters."""
    return "".join(ch for ch in raw if not ch.isspace() and ch != "-").upper()[:CODE_MAX]


class ExtensionRefused(ValueError):
    """Why the page cannot ask for that extension: `reason` is "choice" (not an offered number of years) or
    "too-far" (beyond MAX_YEARS_AHEAD; the centre's staff can still record it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def add_years(at: datetime, years: int) -> datetime:
    """`at` plus whole calendar years (29 February → 28 February in a year that has none)."""
    try:
        return at.replace(year=at.year + years)
    except ValueError:
        return at.replace(year=at.year + years, day=28)


def parse_years(raw: str | None) -> int:
    """The form's `years` field as one of EXTENSION_YEARS, else ExtensionRefused("choice")."""
    try:
        years = int((raw or "").strip())
    except ValueError:
        raise ExtensionRefused("choice") from None
    if years not in EXTENSION_YEARS:
        raise ExtensionRefused("choice")
    return years


def survivor_extension_until(current: datetime, now: datetime, years: int) -> datetime:
    """The date a survivor's "keep my kit N more years" asks for: N calendar years after the later of now and
    the current date; refused when N is not offered or the date lies beyond MAX_YEARS_AHEAD years from now."""
    if years not in EXTENSION_YEARS:
        raise ExtensionRefused("choice")
    new = add_years(max(current, now), years)
    if new > add_years(now, MAX_YEARS_AHEAD):
        raise ExtensionRefused("too-far")
    return new
