"""Which consent methods each age band may use, per pack (policies.consent.allowed_methods/method_problem)."""

from __future__ import annotations

import pytest

from core.cases import AgeBand
from policies.consent import Method, allowed_methods, band_self_consents, method_problem
from policies.jurisdictions import installed_packs

PACKS = sorted(installed_packs())
OWN = {Method.VERBAL, Method.WRITTEN}
GUARDED = {Method.GUARDIAN, Method.MINOR_ASSENT}


@pytest.mark.parametrize("code", PACKS)
@pytest.mark.parametrize("band", list(AgeBand))
def test_methods_follow_the_packs_age_of_consent(code, band):
    pack = installed_packs()[code]
    youngest = {"under-13": 0, "13": 13, "14-15": 14, "16-17": 16}.get(band.value)
    self_consents = youngest is None or youngest >= pack.consent.age_of_consent
    assert band_self_consents(band, pack) is self_consents
    assert set(allowed_methods(band, pack)) == (OWN if self_consents else GUARDED)
    for method in Method:
        problem = method_problem(method, age_band=band, pack=pack)
        assert (problem is None) == (method in allowed_methods(band, pack))
        if problem is not None:  # the message names the band and what it may use instead
            assert f"age band {band.value}" in problem
            assert all(str(m) in problem for m in allowed_methods(band, pack))


def test_known_cases():
    tx, default = installed_packs()["us-tx"], installed_packs()["default"]
    assert set(allowed_methods("14-15", tx)) == OWN  # Texas: 14 and over consent for themselves
    assert set(allowed_methods("13", tx)) == GUARDED
    assert set(allowed_methods("16-17", default)) == GUARDED  # default: a guardian for every minor
    assert set(allowed_methods("adult", default)) == OWN
    assert "use verbal or written" in method_problem("minor-assent", age_band="adult", pack=default)
    assert "use guardian or minor-assent" in method_problem("verbal", age_band="under-13", pack=default)
