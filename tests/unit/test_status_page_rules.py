"""Pure parts of the survivor's status page: the timeline, the language choice, the form token, the catalogues."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st

from api.web import i18n
from api.web.tokens import SESSION_MAX_S, TOKEN_TTL_S, make_token, read_session, read_token
from evidence.lookup_rules import (
    EXTENSION_YEARS,
    MAX_YEARS_AHEAD,
    ExtensionRefused,
    add_years,
    parse_years,
    survivor_extension_until,
    typed_code,
)
from evidence.lookup_timeline import StepKey, timeline

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
KINDS = ["collected", "sealed", "transfer-offered", "transfer-accepted", "checked-in", "checked-out", "released",
         "submitted-to-lab", "analysed", "returned", "destroyed", "integrity-incident", "file-stored"]


def _at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def test_timeline_in_plain_steps():
    """Internal handling (seals, offers, check-outs, second check-ins) shows nothing; the last step is current;
    the retention date closes the list."""
    events = [("collected", _at(0)), ("sealed", _at(0)), ("transfer-offered", _at(1)), ("checked-in", _at(2)),
              ("checked-out", _at(3)), ("checked-in", _at(4)), ("released", _at(5)), ("submitted-to-lab", _at(30))]
    steps = timeline(events, keep_until=_at(10_000), now=_at(40))
    assert [(s.key, s.at) for s in steps] == [
        (StepKey.COLLECTED, _at(0)), (StepKey.STORED, _at(2)), (StepKey.WITH_LAW_ENFORCEMENT, _at(5)),
        (StepKey.AT_LAB, _at(30)), (StepKey.KEPT_UNTIL, _at(10_000))]
    assert [s.current for s in steps] == [False, False, False, True, False] and steps[-1].future


def test_timeline_destroyed_or_past_retention_has_no_future_step():
    events = [("collected", _at(0)), ("destroyed", _at(9))]
    assert [s.key for s in timeline(events, keep_until=_at(100), now=_at(10))] == [StepKey.COLLECTED,
                                                                                   StepKey.DESTROYED]
    assert [s.key for s in timeline([("collected", _at(0))], keep_until=_at(5), now=_at(10))] == [StepKey.COLLECTED]
    assert timeline([], keep_until=None, now=_at(0)) == []


@given(st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 1000)), max_size=30))
def test_timeline_properties(raw):
    """At most one current step (the last that happened); no step repeats the one before it; times kept."""
    events = [(k, _at(h)) for k, h in raw]
    steps = timeline(events, keep_until=_at(2000), now=_at(1500))
    past = [s for s in steps if not s.future]
    assert sum(s.current for s in steps) == (1 if past else 0) and (not past or past[-1].current)
    assert all(a.key is not b.key for a, b in zip(past, past[1:], strict=False))
    assert {s.at for s in past} <= {at for _, at in events}


def test_language_choice():
    assert i18n.choose("es", "en") == "es" and i18n.choose("en", "es") == "en"
    assert i18n.choose(None, "fr-CA,es-MX;q=0.8,en;q=0.5") == "es"
    assert i18n.choose(None, "en;q=0.2,es;q=0.9") == "es"
    assert i18n.choose("de", "de") == "en" and i18n.choose(None, None) == "en"
    assert i18n.choose(None, "es;q=0") == "en"  # q=0: not acceptable


def test_dates_read_as_a_reader_writes_them():
    assert i18n.format_day(T0, "es") == "1 de marzo de 2026" and i18n.format_day(T0, "en") == "March 1, 2026"


def test_form_token_round_trip_expiry_and_forgery():
    token = make_token("K" + "7" * 16, T0)
    assert read_token(token, T0 + timedelta(seconds=TOKEN_TTL_S)) == "K" + "7" * 16
    assert read_token(token, T0 + timedelta(seconds=TOKEN_TTL_S + 1)) is None
    code, expiry, since, mac = token.split(".")
    assert read_token(f"K{'8' * 16}.{expiry}.{since}.{mac}", T0) is None
    assert read_token(f"{code}.{int(expiry) + 3600}.{since}.{mac}", T0) is None
    assert read_token(f"{code}.{expiry}.{int(since) + 3600}.{mac}", T0) is None
    for junk in ("", "a.b", "a.b.c", "a.b.c.d.e", "K.x.é.y", f"{code}.soon.{since}.{mac}"):
        assert read_token(junk, T0) is None


def test_form_token_never_outlives_the_session_since_the_password():
    """A token renewed from an old one keeps its `since`: its expiry is capped at SESSION_MAX_S after it."""
    since = int(T0.timestamp())
    late = T0 + timedelta(seconds=SESSION_MAX_S - 60)
    token = make_token("K" + "7" * 16, late, since=since)
    assert read_session(token, late) == ("K" + "7" * 16, since)
    assert read_token(token, late + timedelta(seconds=59)) == "K" + "7" * 16
    assert read_token(token, late + timedelta(seconds=61)) is None


def test_every_message_of_the_templates_is_translated_into_spanish():
    """The Spanish catalogue covers every msgid the templates use, with a non-empty, placeholder-keeping text."""
    options = {"**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}}
    used = {msg for _f, _l, msg, _c, _ctx in extract_from_dir(
        str(i18n.TEMPLATES), method_map=[("**.html", "jinja2.ext:babel_extract")], options_map=options)}
    with i18n.catalogue_path("es").open("rb") as f:
        catalog = read_po(f, locale="es")
    translated = {m.id: m.string for m in catalog if m.id}
    assert used and used <= set(translated), sorted(used - set(translated))
    for msgid in used:
        text = translated[msgid]
        assert text and text != msgid, msgid
        for placeholder in ("%(date)s", "%(n)s"):
            assert (placeholder in msgid) == (placeholder in text), msgid
    assert not [m.id for m in catalog if m.id and m.fuzzy]
    assert i18n.translations("es").gettext("Your kit") == "Su kit"


def test_survivor_extension_counts_from_the_later_date_in_calendar_years():
    """N offered years from the later of now and the current date; 29 February → 28 February."""
    leap = datetime(2028, 2, 29, 12, tzinfo=UTC)
    assert survivor_extension_until(leap, T0, 1) == datetime(2029, 2, 28, 12, tzinfo=UTC)
    assert survivor_extension_until(T0 - timedelta(days=10), T0, 2) == T0.replace(year=2028)  # past date: from now
    assert [parse_years(v) for v in ("1", " 2 ", "5")] == [1, 2, 5]


@given(st.sampled_from(["0", "3", "-1", "", "x", "10", "1.5"]))
def test_only_offered_year_counts_are_accepted(raw):
    with pytest.raises(ExtensionRefused) as refused:
        parse_years(raw)
    assert refused.value.reason == "choice"


@given(st.integers(0, 60 * 366), st.sampled_from(EXTENSION_YEARS))
def test_survivor_extension_never_shortens_and_never_passes_the_cap(days_ahead, years):
    """The new date is later than both now and the current date, and at most MAX_YEARS_AHEAD years from now;
    beyond that: refused as too far."""
    current = T0 + timedelta(days=days_ahead)
    try:
        new = survivor_extension_until(current, T0, years)
    except ExtensionRefused as exc:
        assert exc.reason == "too-far" and add_years(current, years) > add_years(T0, MAX_YEARS_AHEAD)
        return
    assert new > current and new > T0 and new <= add_years(T0, MAX_YEARS_AHEAD)
    assert new == add_years(max(current, T0), years)


def test_a_code_is_read_as_typed_one_way():
    """Spaces, dashes and case do not make another code; nothing longer than the column is kept."""
    assert typed_code(" k2ans-db46 dktz8794\t") == "K2ANSDB46DKTZ8794"
    assert typed_code("K2ANSDB46DKTZ8794") == "K2ANSDB46DKTZ8794"
    assert typed_code("x" * 100) == "X" * 32
    assert typed_code("") == ""
