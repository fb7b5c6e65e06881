"""Languages of the status page: English (the msgids) and Spanish (locales/es/LC_MESSAGES/messages.po).

The .po catalogues are the source; they are compiled in memory with Babel when the page first renders (no .mo
files are committed or built), so a translator edits one text file. One Jinja2 environment per language.
"""

from __future__ import annotations

import functools
import gettext
import io
from datetime import datetime
from pathlib import Path

from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import Environment, FileSystemLoader, select_autoescape

HERE = Path(__file__).parent
LOCALES = HERE / "locales"
TEMPLATES = HERE / "templates"
LANGUAGES = {"en": "English", "es": "Español"}
DEFAULT = "en"


def choose(lang: str | None, accept_language: str | None) -> str:
    """The page's language: an explicit `lang` we have, else the browser's best (Accept-Language), else English."""
    if lang in LANGUAGES:
        return str(lang)
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, i, tag.strip().lower().split("-")[0]))
    for neg_q, _i, tag in sorted(ranked):
        if neg_q < 0 and tag in LANGUAGES:
            return tag
    return DEFAULT


def catalogue_path(lang: str) -> Path:
    """The .po file of a language."""
    return LOCALES / lang / "LC_MESSAGES" / "messages.po"


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of `lang` (English: the msgids themselves)."""
    if lang == DEFAULT:
        return gettext.NullTranslations()
    with catalogue_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


@functools.cache
def environment(lang: str) -> Environment:
    """The Jinja2 environment rendering pages in `lang`."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters["day"] = lambda value: format_day(value, lang)
    return env


def format_day(value: datetime, lang: str) -> str:
    """A date as a reader of `lang` writes it ("4 December 2026", "4 de diciembre de 2026"), in UTC."""
    return format_date(value.date(), format="long", locale=lang)
