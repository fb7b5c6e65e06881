"""An item read back from the database holds the enum members its model declares (core.db_types.StrEnumText), so
its public model serializes without pydantic's "PydanticSerializationUnexpectedValue ... Expected `enum`" warning.

Before: `evidence_item.kind` / `offence_class` were plain VARCHAR columns, a row loaded `kind="swab"` (a str) and
`items.to_public` (`item.model_dump()`) warned on every item the API showed, in every route and generated run."""

from __future__ import annotations

import warnings

from sqlmodel import Session

from evidence import items
from policies.handoffs import ItemKind
from policies.jurisdictions import OffenceClass
from policies.permissions import Role
from tests.api_helpers import api_harness

CONSENTS = ("forensic-exam", "evidence-swabs")


def _serializer_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "PydanticSerializationUnexpectedValue" in str(w.message)]


def test_items_shown_through_the_api_serialize_without_a_warning(db_url, tmp_path, clock):
    h = api_harness(db_url, tmp_path)
    try:
        examiner = h.user(Role.EXAMINER)
        hd = examiner.headers
        case_id = h.client.post("/cases", json={"reporting": "unrestricted"}, headers=hd).json()["id"]
        for scope in CONSENTS:
            r = h.client.post(f"/cases/{case_id}/consents", headers=hd, json={
                "scope": scope, "decision": "granted", "method": "written", "form_ref": f"F-{scope}"})
            assert r.status_code == 201, r.text
        r = h.client.post(f"/cases/{case_id}/items", headers=hd,
                          json={"kind": "swab", "description": "oral swab", "offence_class": "rape"})
        assert r.status_code == 201, r.text
        item_id = r.json()["id"]

        # The rows as a fresh session loads them: the members the model declares, not their text.
        with Session(h.engine) as s:
            row = items.get_item(s, item_id)
            assert type(row.kind) is ItemKind and row.kind is ItemKind.SWAB
            assert type(row.offence_class) is OffenceClass and row.offence_class is OffenceClass.RAPE
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                assert row.model_dump()["kind"] is ItemKind.SWAB
                public = items.to_public(row, s.get(items.ItemCustody, item_id))
                assert public.model_dump(mode="json")["kind"] == "swab"
            assert _serializer_warnings(caught) == []

        # Through the API (the app serializes each response model): an error on the warning, and none recorded.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.filterwarnings("error", message=".*PydanticSerializationUnexpectedValue")
            one = h.client.get(f"/items/{item_id}", headers=hd)
            listed = h.client.get(f"/cases/{case_id}/items", headers=hd)
            sealed = h.client.post(f"/items/{item_id}/seal", json={"seal_number": "S-1"}, headers=hd)
        assert _serializer_warnings(caught) == []
        assert one.status_code == 200 and one.json()["kind"] == "swab", one.text
        assert one.json()["offence_class"] == "rape"
        assert listed.status_code == 200 and [i["kind"] for i in listed.json()] == ["swab"], listed.text
        assert sealed.status_code == 200 and sealed.json()["item"]["kind"] == "swab", sealed.text
    finally:
        h.close()
