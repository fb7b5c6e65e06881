"""A real case to aim requests at (issue #18): a case with a stored identity, a consented item with a stored
file, an open transfer of that item and an integrity incident on it (which quarantines it), a second, HEALTHY item
with a stored file (no incident, no offer: held by the opener, so custody operations on it can succeed; the case's
consents cover its release and lab submission), built through the API itself; plus a case
review (scheduled by an assigned coordinator, with the opener as its one participant) with an action item, an
advocacy referral and the follow-ups scheduled from the exam (behind the share-with-advocate release), and the
survivor's request for notice before destruction, and a "please contact me" request made on the status page
with the item's card."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.clock import utcnow
from policies.permissions import Role
from tests.api_helpers import ApiHarness, StaffUser

CONSENTS = ("forensic-exam", "evidence-swabs", "release-to-law-enforcement", "lab-testing", "status-lookup")
CENTRE_AGENCY = "Y0000000000000000"  # the centre's own agency (migration 0004): owner of the review's action item


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
    review_id: str  # a case review whose only participant is the opener
    action_id: int  # an open action item of that review, owned by the centre
    referral_id: int  # an advocacy referral on the case
    follow_up_id: int  # the case's first follow-up after the exam (not due yet)
    chair: StaffUser  # the assigned coordinator who scheduled the review
    advocate: StaffUser  # the assigned advocate who recorded the referral and scheduled the follow-ups
    contact_seq: int  # the survivor's open "please contact me" request (its ledger seq), made on the status page
    healthy_item_id: str  # a second item of the case: not quarantined, no open offer, held by the opener
    healthy_file_id: str  # its stored file
    officer: StaffUser  # a law-enforcement officer (the test police force): who a release goes to

    def path_values(self) -> dict[str, str]:
        """Path parameter name → the real object's id."""
        return {"case_id": self.case_id, "item_id": self.item_id, "transfer_id": self.transfer_id,
                "incident_id": str(self.incident_id), "review_id": self.review_id,
                "action_id": str(self.action_id), "referral_id": str(self.referral_id),
                "follow_up_id": str(self.follow_up_id), "request_seq": str(self.contact_seq)}


def _ok(resp, status: int = 201) -> dict:
    assert resp.status_code == status, resp.text
    return resp.json() if resp.content else {}


def regrant_consents(h: ApiHarness, opener: StaffUser, case_id: str) -> None:
    """Record the world's consents as granted again (generated requests may have recorded declines or
    withdrawals on the world's case; the survivor may give consent again, and the newest decision counts)."""
    for scope in CONSENTS:
        _ok(h.client.post(f"/cases/{case_id}/consents", headers=opener.headers,
                          json={"scope": scope, "decision": "granted", "method": "written", "form_ref": f"F-{scope}"}))


def healthy_item(h: ApiHarness, opener: StaffUser, case_id: str) -> tuple[str, str]:
    """A new item of the case with a stored file, held by `opener` (no incident, no offer): (item id, file id)."""
    c = h.client
    item_id = _ok(c.post(f"/cases/{case_id}/items", json={"kind": "swab", "description": "vaginal swab"},
                         headers=opener.headers))["id"]
    file_id = _ok(c.put(f"/items/{item_id}/file", content=b"healthy evidence bytes", headers=opener.headers))["id"]
    return item_id, file_id


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
    # The survivor asked for notice before destruction (the notice-contact read needs one on record).
    _ok(c.post(f"/cases/{case_id}/notice-request", json={"kind": "email", "value": "notice@example.org"},
               headers=hd))
    # Advocacy needs the survivor's written release to the advocate (with its expiry date).
    _ok(c.post(f"/cases/{case_id}/consents", headers=hd,
               json={"scope": "share-with-advocate", "decision": "granted", "method": "written",
                     "form_ref": "F-share", "expires_at": (utcnow() + timedelta(days=365)).isoformat()}))
    _ok(c.post(f"/cases/{case_id}/exam", json={"started_at": utcnow().isoformat(), "narrative": "exam"},
               headers=hd))
    advocate = h.user(Role.ADVOCATE, assign_to=case_id)
    referral_id = _ok(c.post(f"/cases/{case_id}/advocacy/referrals", headers=advocate.headers,
                             json={"service": "counselling", "organisation": "Counselling service"}))["id"]
    follow_ups = _ok(c.post(f"/cases/{case_id}/advocacy/follow-ups", headers=advocate.headers))
    assert follow_ups, "the pack schedules no follow-up after the exam: the world needs one"
    chair = h.user(Role.COORDINATOR, assign_to=case_id)
    review_id = _ok(c.post(f"/cases/{case_id}/reviews", headers=chair.headers,
                           json={"scheduled_for": (utcnow() + timedelta(days=2)).isoformat(),
                                 "participants": [opener.user.username]}))["id"]
    action_id = _ok(c.post(f"/reviews/{review_id}/actions", headers=chair.headers,
                           json={"owner_agency": CENTRE_AGENCY,
                                 "due_at": (utcnow() + timedelta(days=7)).isoformat()}))["id"]
    card = _ok(c.post(f"/items/{item_id}/status-lookup", headers=hd))  # the survivor's code + password
    page = c.post("/status", data={"code": card["code"], "password": card["password"]})
    assert page.status_code == 200, page.text
    token = page.text.split('name="token" value="')[1].split('"')[0]
    assert c.post("/status/contact", data={"token": token}).status_code == 200
    [contact] = _ok(c.get("/status-requests", headers=hd), 200)
    contact_seq = int(contact["seq"])
    healthy_item_id, healthy_file_id = healthy_item(h, opener, case_id)
    return World(case_id=case_id, item_id=item_id, file_id=file_id, transfer_id=transfer_id,
                 incident_id=int(incident_id), opener=opener, receiver=receiver, review_id=review_id,
                 action_id=int(action_id), referral_id=int(referral_id), follow_up_id=int(follow_ups[0]["id"]),
                 chair=chair, advocate=advocate, contact_seq=contact_seq, healthy_item_id=healthy_item_id,
                 healthy_file_id=healthy_file_id, officer=h.user(Role.LAW_ENFORCEMENT))
