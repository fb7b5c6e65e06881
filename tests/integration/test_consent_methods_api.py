"""Every consent scope × method × age band (× grant/decline/withdraw) through the real API, on both databases.

No combination may answer 5xx (minor-assent used to crash with AttributeError), and a decision is accepted
(201) exactly when the pure rule policies.consent.method_problem says the method is valid for the band in the
case's jurisdiction; otherwise a 422 names the methods that band may use.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.cases import AgeBand
from core.ledger import iso
from policies.consent import Decision, Method, allowed_methods, method_problem
from policies.handoffs import ConsentScope
from policies.jurisdictions import get_pack, installed_packs
from tests.api_helpers import api_harness


@pytest.fixture
def harness(db_url, tmp_path, clock):
    h = api_harness(db_url, tmp_path)
    yield h
    h.close()


def _body(scope: ConsentScope, method: Method, decision: Decision, now) -> dict:
    body = {"scope": scope.value, "decision": decision.value, "method": method.value, "form_ref": "FORM-1"}
    if decision is Decision.GRANTED:  # a grant may carry an expiry (share-with-advocate must)
        body["expires_at"] = iso(now + timedelta(days=30))
    return body


def _check(response, *, band: AgeBand, jurisdiction: str, method: Method) -> None:
    assert response.status_code < 500, response.text
    valid = method_problem(method, age_band=band, pack=get_pack(jurisdiction)) is None
    if valid:
        assert response.status_code == 201, response.text
    else:
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert f"age band {band.value}" in detail
        assert all(str(m) in detail for m in allowed_methods(band, get_pack(jurisdiction)))


def test_every_scope_method_and_age_band_in_texas(harness, clock):
    """Exhaustive on the pack whose age of consent (14) splits the minor bands: 13 scopes × 4 methods × 5 bands,
    each as a grant then a withdrawal (declines are covered by the property test below)."""
    h, ex = harness, harness.user("examiner")
    for band in AgeBand:
        case_id = h.client.post("/cases", json={"age_band": band.value, "jurisdiction": "us-tx"},
                                headers=ex.headers).json()["id"]
        for scope in ConsentScope:
            for method in Method:
                for decision in (Decision.GRANTED, Decision.WITHDRAWN):
                    r = h.client.post(f"/cases/{case_id}/consents", headers=ex.headers,
                                      json=_body(scope, method, decision, clock.now()))
                    _check(r, band=band, jurisdiction="us-tx", method=method)


def test_minor_assent_for_a_minor_is_recorded_and_for_an_adult_is_a_clear_422(harness, clock):
    """The reported crash: `coc consent record <case> medical-care --method minor-assent`."""
    h, ex = harness, harness.user("examiner")
    minor = h.client.post("/cases", json={"age_band": "13"}, headers=ex.headers).json()["id"]
    adult = h.client.post("/cases", json={"age_band": "adult"}, headers=ex.headers).json()["id"]
    body = {"scope": "medical-care", "decision": "granted", "method": "minor-assent"}
    r = h.client.post(f"/cases/{minor}/consents", json=body, headers=ex.headers)
    assert r.status_code == 201, r.text
    r = h.client.post(f"/cases/{adult}/consents", json=body, headers=ex.headers)
    assert r.status_code == 422
    assert r.json()["detail"] == ("minor-assent is not valid for age band adult in default: this survivor can "
                                  "consent for themselves (age of consent 18); use verbal or written")


@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(jurisdiction=st.sampled_from(sorted(installed_packs())), band=st.sampled_from(list(AgeBand)),
       scope=st.sampled_from(list(ConsentScope)), method=st.sampled_from(list(Method)),
       decision=st.sampled_from(list(Decision)))
def test_any_pack_band_scope_method_and_decision(harness, clock, jurisdiction, band, scope, method, decision):
    h = harness
    ex = h.users[0] if h.users else h.user("examiner")
    case_id = h.client.post("/cases", json={"age_band": band.value, "jurisdiction": jurisdiction},
                            headers=ex.headers).json()["id"]
    r = h.client.post(f"/cases/{case_id}/consents", headers=ex.headers,
                      json=_body(scope, method, decision, clock.now()))
    _check(r, band=band, jurisdiction=jurisdiction, method=method)
