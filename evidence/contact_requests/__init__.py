"""Survivors' "please contact me about my kit" requests from the status page: rules (PURE: who sees which,
the closed outcomes, the fold of handlings) · shapes (bodies) · service (list, handle)."""

from evidence.contact_requests.rules import ContactOutcome, Handling, RequestState, may_see, sees_every_case
from evidence.contact_requests.service import (
    SEQ_MAX,
    get_request,
    handle_contact_request,
    list_contact_requests,
    open_request,
    visible_case_ids,
    visible_request,
)
from evidence.contact_requests.shapes import ContactHandled, ContactRequestPublic

__all__ = ["SEQ_MAX", "ContactHandled", "ContactOutcome", "ContactRequestPublic", "Handling", "RequestState",
           "get_request", "handle_contact_request", "list_contact_requests", "may_see", "open_request",
           "sees_every_case", "visible_case_ids", "visible_request"]
