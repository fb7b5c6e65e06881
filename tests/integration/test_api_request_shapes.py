"""Request bodies refuse unknown fields everywhere, and a malformed Content-Disposition is refused (issue #18)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from api.app import iter_api_routes
from api.disposition import upload_filename
from evidence.files import EvidenceFile
from policies.permissions import Role
from tests.api_helpers import api_harness


@pytest.fixture
def harness(db_url, tmp_path, clock):
    """The app on a fresh database."""
    h = api_harness(db_url, tmp_path)
    yield h
    h.close()


def body_models(app) -> dict[str, type]:
    """Every pydantic model a route takes as its JSON body, by 'METHOD path'."""
    out = {}
    for route in iter_api_routes(app):
        for param in route.dependant.body_params:
            model = param.field_info.annotation
            if hasattr(model, "model_config"):
                out[f"{sorted(route.methods)[0]} {route.path}"] = model
    assert len(out) > 20, "body introspection found too few request models"
    return out


def test_every_request_model_forbids_unknown_fields(harness):
    """Every route's body model says extra='forbid', and the OpenAPI schema says additionalProperties: false."""
    lax = [f"{where}: {model.__name__}" for where, model in body_models(harness.app).items()
           if model.model_config.get("extra") != "forbid"]
    assert not lax, "request models that silently drop unknown fields:\n" + "\n".join(lax)
    schema = harness.client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    checked = 0
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            if not content:
                continue
            ref = content["schema"].get("$ref", "")
            body = components[ref.rsplit("/", 1)[-1]] if ref else content["schema"]
            assert body.get("additionalProperties") is False, f"{method.upper()} {path} accepts unknown fields"
            checked += 1
    assert checked > 20


def test_unknown_field_in_a_case_is_refused_and_named(harness):
    """`POST /cases` with a survivor_name: 422 naming the field (it used to be dropped silently: 201)."""
    examiner = harness.user(Role.EXAMINER)
    r = harness.client.post("/cases", json={"survivor_name": "Jane Doe"}, headers=examiner.headers)
    assert r.status_code == 422, r.text
    assert any(e["loc"][-1] == "survivor_name" and e["type"] == "extra_forbidden" for e in r.json()["errors"])
    assert "Jane Doe" not in r.text  # the rejected value is not echoed
    assert harness.client.post("/cases", json={}, headers=examiner.headers).status_code == 201


BAD_DISPOSITIONS = [
    "attachment; filename*=bogus''scan.jpg",             # unknown charset
    "attachment; filename*=UTF-8''%ZZscan.jpg",          # bad percent-escape
    "attachment; filename*=UTF-8''%ff%fescan.jpg",       # not UTF-8
    "attachment; filename*=UTF-8'scan.jpg",              # no language part
    "attachment; filename*=''scan.jpg",                  # no charset
    "attachment; filename*=UTF-8''scan%00.jpg",          # NUL in the name
    "attachment; filename*=UTF-8''",                     # empty name
    'attachment; filename="unterminated',
    "attachment; filename=a; filename=b",                # given twice
    "; filename=scan.jpg",                               # no disposition type
    "attachment filename=scan.jpg",                      # no separator
]


@pytest.mark.parametrize("value", BAD_DISPOSITIONS)
def test_malformed_content_disposition_is_a_400_not_a_name(value):
    """Each malformed header raises a 400 (the lenient email parser took most of them as file names)."""
    with pytest.raises(Exception) as info:
        upload_filename(value)
    assert getattr(info.value, "status_code", None) == 400
    assert "Content-Disposition" in str(getattr(info.value, "detail", ""))


@pytest.mark.parametrize(("value", "name"), [
    ("attachment; filename*=UTF-8''scan%201.jpg", "scan 1.jpg"),
    ("attachment; filename*=utf-8'en'%C3%A9t%C3%A9.png", "été.png"),
    ('attachment; filename="plain name.pdf"', "plain name.pdf"),
    ("attachment; filename=plain.pdf; filename*=UTF-8''better.pdf", "better.pdf"),
    ("attachment", None),
    (None, None),
])
def test_well_formed_content_disposition_gives_the_name(value, name):
    """RFC 6266 / RFC 8187 headers as clients send them still work."""
    assert upload_filename(value) == name


def test_malformed_content_disposition_upload_is_refused_over_http(harness):
    """Through the route, on a real item: `filename*=bogus''…` is answered 400 problem+json, nothing stored."""
    examiner = harness.user(Role.EXAMINER)
    c = harness.client
    case_id = c.post("/cases", json={"reporting": "unrestricted"}, headers=examiner.headers).json()["id"]
    for scope in ("forensic-exam", "evidence-swabs"):
        r = c.post(f"/cases/{case_id}/consents", headers=examiner.headers,
                   json={"scope": scope, "decision": "granted", "method": "written", "form_ref": f"F-{scope}"})
        assert r.status_code == 201, r.text
    r = c.post(f"/cases/{case_id}/items", json={"kind": "swab", "description": "oral swab"}, headers=examiner.headers)
    assert r.status_code == 201, r.text
    item_id = r.json()["id"]
    r = c.put(f"/items/{item_id}/file", content=b"abc",
              headers={**examiner.headers, "Content-Disposition": "attachment; filename*=bogus''scan.jpg"})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "Content-Disposition" in r.json()["detail"]
    with Session(harness.engine) as s:
        assert s.execute(select(EvidenceFile).where(EvidenceFile.item_id == item_id)).first() is None


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1800-01-01T00:00:00Z"])
def test_times_at_the_ends_of_the_calendar_are_a_422_not_a_500(harness, when):
    """Schemathesis found POST /cases/{id}/care with occurred_at 0001-01-01T00:00+14:00 answering 500 (no UTC
    equivalent): every request time must now fall in core.clock.REQUEST_YEARS, else 422."""
    examiner = harness.user(Role.EXAMINER)
    c = harness.client
    case_id = c.post("/cases", json={}, headers=examiner.headers).json()["id"]
    r = c.post(f"/cases/{case_id}/care", headers=examiner.headers,
               json={"care": "hiv-pep", "status": "given", "occurred_at": when})
    assert r.status_code == 422, r.text
    assert "between the years" in r.text
    r = c.post("/cases", json={"assault_at": when}, headers=examiner.headers)
    assert r.status_code == 422, r.text
