"""A real case to aim requests at (issue #18): a case with a stored identity, a consented item with a stored
file, an open transfer of that item and an integrity incident on it, built through the API itself."""

from __future__ import annotations

from dataclasses import dataclass

from policies.permissions import Role
from tests.api_helpers import ApiHarness, StaffUser

CONSENTS = ("forensic-exam", "evidence-swabs", "release-to-law-enforcement", "lab-testing", "status-lookup")


@dataclass(frozen=True)
class World:
    """The real objects: every id a route's path can name, plus who made them."""

    case_id: str
    item_id: str
    file_id: str
    transfer_id: str
    incident_id: int
    opener: StaffUser  # the examiner who opened the case and holds the item
    receiver: StaffUser  # the (centre) lab user the open transfer is offered to

    def path_values(self) -> dict[str, str]:
        """Path parameter name → the real object's id."""
        return {"case_id": self.case_id, "item_id": self.item_id, "transfer_id": self.transfer_id,
                "incident_id": str(self.incident_id)}


def _ok(resp, status: int = 201) -> dict:
    assert resp.status_code == status, resp.text
    return resp.json() if resp.content else {}


def build_world(h: ApiHarness) -> World:
    """Open the case and make every object through the routes (needs the harness's S3 store for the file)."""
    c = h.client
    opener = h.user(Role.EXAMINER)
    hd = opener.headers
    case_id = _ok(c.post("/cases", json={"reporting": "unrestricted"}, headers=hd))["id"]
    _ok(c.put(f"/cases/{case_id}/identity", json={"full_name": "Test Person"}, headers=hd), 204)
    for scope in CONSENTS:
        _ok(c.post(f"/cases/{case_id}/consents", headers=hd,
                   json={"scope": scope, "decision": "granted", "method": "written", "form_ref": f"F-{scope}"}))
    item_id = _ok(c.post(f"/cases/{case_id}/items", json={"kind": "swab", "description": "oral swab"},
                         headers=hd))["id"]
    file_id = _ok(c.put(f"/items/{item_id}/file", content=b"evidence bytes", headers=hd))["id"]
    receiver = h.user(Role.LAB)
    transfer_id = _ok(c.post(f"/items/{item_id}/transfers", headers=hd,
                             json={"to_user": receiver.id, "reason": "to storage", "condition": "sealed"}))["id"]
    incident_id = _ok(c.post(f"/items/{item_id}/integrity-incidents", json={"reason": "seal looked torn"},
                             headers=hd))["id"]
    return World(case_id=case_id, item_id=item_id, file_id=file_id, transfer_id=transfer_id,
                 incident_id=int(incident_id), opener=opener, receiver=receiver)
