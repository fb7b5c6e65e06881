"""The survivor's destruction-notice request (18 U.S.C. 3772): models · shapes · rules (pure) · service."""

from policies.notice.models import (
    ChannelKind,
    DeliveryOutcome,
    FailureReason,
    NoticeDelivery,
    NoticeRequest,
    RequestSource,
)
from policies.notice.rules import DEFAULT_NOTICE_DAYS, Sent, check_notice_period, due_at, notice_days, task_state
from policies.notice.service import (
    current_request,
    deliveries,
    notice_contact,
    notice_requested,
    record_delivery,
    request_notice,
    requests_with_contact,
    sent_notices,
    to_public,
)
from policies.notice.shapes import (
    NoticeContact,
    NoticeDeliveryCreate,
    NoticeDeliveryPublic,
    NoticeFailureCreate,
    NoticeRequestCreate,
    NoticeRequestPublic,
    NoticeTask,
)

__all__ = [
    "DEFAULT_NOTICE_DAYS", "ChannelKind", "DeliveryOutcome", "FailureReason", "NoticeContact", "NoticeDelivery",
    "NoticeDeliveryCreate", "NoticeDeliveryPublic", "NoticeFailureCreate", "NoticeRequest", "NoticeRequestCreate",
    "NoticeRequestPublic", "NoticeTask", "RequestSource", "Sent", "check_notice_period", "current_request",
    "deliveries", "due_at", "notice_contact", "notice_days", "notice_requested", "record_delivery",
    "request_notice", "requests_with_contact", "sent_notices", "task_state", "to_public",
]
