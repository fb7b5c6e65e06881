"""The pure rule deciding which refused requests are recorded as refused attempts (policies/refusals.py)."""

from __future__ import annotations

import pytest

from core import errors
from policies.permissions import Permission as P
from policies.refusals import (
    REASON_MAX,
    is_custody_action,
    is_ledgered,
    is_protected,
    is_refusal,
    object_of,
    path_objects,
    reason_text,
)

EVIDENCE = [P.ITEM_CREATE, P.ITEM_READ, P.FILE_UPLOAD, P.FILE_DOWNLOAD, P.LABEL_PRINT, P.ITEM_SEAL,
            P.TRANSFER_OFFER, P.TRANSFER_ACCEPT, P.CHECK_IN_OUT, P.ANALYSE, P.RELEASE, P.DESTRUCTION_PROPOSE,
            P.DESTRUCTION_APPROVE, P.LEGAL_HOLD, P.CUSTODY_READ]
CONSENT_PROTECTED = [P.CONSENT_READ, P.CONSENT_WRITE, P.OVERRIDE_WRITE, P.EXAM_READ, P.EXAM_WRITE, P.CARE_READ,
                     P.CARE_WRITE, P.ADVOCACY_READ, P.ADVOCACY_WRITE, P.SAFETY_PLAN_READ]
SURVIVOR_FILE = [P.CASE_READ, P.CASE_UPDATE, P.IDENTITY_READ, P.IDENTITY_WRITE, P.CASE_ASSIGN, P.BREAK_GLASS]
NOT_PROTECTED = [P.CASE_CREATE, P.CASE_LIST, P.LEDGER_READ, P.LEDGER_VERIFY, P.AUDIT_EXPORT, P.ACCESS_LOG_READ,
                 P.ALERT_READ, P.USER_ADMIN, P.USER_READ, P.JURISDICTION_READ]
CUSTODY_ACTIONS = [P.FILE_UPLOAD, P.FILE_DOWNLOAD, P.ITEM_SEAL, P.TRANSFER_OFFER, P.TRANSFER_ACCEPT, P.CHECK_IN_OUT,
                   P.ANALYSE, P.RELEASE, P.DESTRUCTION_PROPOSE, P.DESTRUCTION_APPROVE, P.LEGAL_HOLD]


def test_the_lists_here_cover_todays_permissions_once():
    """Today's permissions, each placed once (permissions added later are classified by their scope, below)."""
    listed = EVIDENCE + CONSENT_PROTECTED + SURVIVOR_FILE + NOT_PROTECTED
    assert len(listed) == len(set(listed))
    assert {p for p in P if is_protected(p)} >= set(EVIDENCE + CONSENT_PROTECTED + SURVIVOR_FILE)


@pytest.mark.parametrize("permission", EVIDENCE + CONSENT_PROTECTED + SURVIVOR_FILE)
def test_protected_routes_record_permission_denied_consent_and_deactivated_accounts(permission):
    assert is_protected(permission)
    for error in (errors.PermissionDenied, errors.ConsentRequired, errors.AuthenticationFailed):
        assert is_refusal(permission, error, identified=True)
        assert not is_refusal(permission, error, identified=False)  # no verified token: nobody to attribute


@pytest.mark.parametrize("permission", NOT_PROTECTED + [None, ""])
def test_other_routes_record_nothing(permission):
    assert not is_protected(permission)
    for error in (errors.PermissionDenied, errors.ConsentRequired, errors.AuthenticationFailed, errors.Conflict):
        assert not is_refusal(permission, error, identified=True)


@pytest.mark.parametrize("error", [errors.ValidationFailed, errors.PayloadTooLarge, errors.RateLimited,
                                   errors.IntegrityViolation, errors.DependencyUnavailable, errors.ConfigError,
                                   ValueError, RuntimeError])
def test_validation_rate_limits_and_server_errors_are_not_refusals(error):
    for permission in EVIDENCE + CONSENT_PROTECTED + SURVIVOR_FILE:
        assert not is_refusal(permission, error, identified=True)


def test_not_found_counts_only_when_it_conceals_a_refusal():
    assert not is_refusal(P.ITEM_READ, errors.NotFound, identified=True)  # an unknown id: a plain 404
    assert is_refusal(P.ITEM_READ, errors.NotFound, identified=True, concealed=True)  # a hidden item
    assert not is_refusal(P.ITEM_READ, errors.NotFound, identified=False, concealed=True)


def test_conflicts_count_only_on_custody_actions():
    for permission in CUSTODY_ACTIONS:
        assert is_custody_action(permission)
        assert is_refusal(permission, errors.Conflict, identified=True)
    for permission in [P.ITEM_READ, P.CUSTODY_READ, P.LABEL_PRINT, P.ITEM_CREATE, P.CASE_UPDATE, P.CONSENT_WRITE,
                       P.EXAM_WRITE, P.CASE_ASSIGN]:
        assert not is_custody_action(permission)
        assert not is_refusal(permission, errors.Conflict, identified=True)


def test_new_permissions_in_a_protected_scope_are_covered_without_changing_the_rule():
    """Other work adds permissions (e.g. quarantine): scope, not a list, decides."""
    assert is_refusal("custody:item:quarantine", errors.Conflict, identified=True)
    assert is_custody_action("custody:item:quarantine") and not is_custody_action("custody:incident:read")
    assert is_refusal("evidence:incident:read", errors.PermissionDenied, identified=True)
    assert not is_refusal("admin:agency:write", errors.PermissionDenied, identified=True)


def test_custody_refusals_are_ledgered_except_consent_refusals_which_the_checkpoint_ledgers():
    assert is_ledgered(P.CHECK_IN_OUT, errors.PermissionDenied)
    assert is_ledgered(P.CHECK_IN_OUT, errors.Conflict)
    assert is_ledgered(P.FILE_DOWNLOAD, errors.AuthenticationFailed)
    assert not is_ledgered(P.RELEASE, errors.ConsentRequired)
    assert not is_ledgered(P.ITEM_READ, errors.PermissionDenied)  # a read: the access log only
    assert not is_ledgered(P.EXAM_READ, errors.PermissionDenied)


def test_only_opaque_ids_of_the_right_kind_are_taken_from_the_path():
    item, case, transfer = "E" + "1" * 16, "C" + "2" * 16, "T" + "3" * 16
    assert path_objects({"item_id": item}) == {"item_id": item}
    assert path_objects({"case_id": case, "user_id": "U" + "4" * 16}) == {"case_id": case}
    assert path_objects({"item_id": "Jane Roe", "case_id": item}) == {}  # free text, or an id of another kind
    assert object_of(path_objects({"transfer_id": transfer, "item_id": item})) == transfer
    assert object_of(path_objects({"case_id": case, "item_id": item})) == item
    assert object_of({}) is None


def test_reason_is_class_and_message_on_one_line_capped():
    assert reason_text(errors.PermissionDenied("not yours")) == "PermissionDenied: not yours"
    assert reason_text(errors.ConsentRequired("needs\nphotography-record")) == \
        "ConsentRequired: needs photography-record"
    long = reason_text(errors.Conflict("x" * 1000))
    assert len(long) == REASON_MAX and long.startswith("Conflict: xxx") and long.endswith("…")
