"""Chain of custody: seal, transfer (offer → accept), check in/out, lab submission, release, analysis, destruction.

One concern per module:
  models.py     tables + enums (CustodyEvent, Transfer, CustodyEventKind, TransferPurpose, TransferStatus);
                imports only core, so evidence.items and evidence.files can write their custody events
  schemas.py    request/response shapes
  rules.py      the PURE custody state machine (CustodyState + transitions; no database)
  gate.py       the boundary/consent gate (`leave_centre`) and who may receive an item
  service.py    the operations: lock the item, call the rules, write state + event + ledger entry
  withdrawal.py the withdrawal hook that cancels open offers resting on a withdrawn consent
  visibility.py who may see an item
  inbox.py      the open offers addressed to one receiver, across cases

The tables, shapes and rules are imported at once; the operations (which import evidence.items, .files and
.incidents, themselves importing models) are loaded on first use (PEP 562), so importing
`evidence.custody.models` from below never runs the services' imports. Every name is re-exported here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from evidence.custody.models import (
    CustodyEvent,
    CustodyEventKind,
    Transfer,
    TransferPurpose,
    TransferStatus,
    add_event,
)
from evidence.custody.schemas import (
    AnalysisCreate,
    CheckInCreate,
    CheckOutCreate,
    CustodyEventPublic,
    DestroyCreate,
    SealCreate,
    TransferAccept,
    TransferClose,
    TransferCreate,
    TransferPublic,
)

if TYPE_CHECKING:  # the lazily loaded names below, for type checkers and import graphs
    from evidence.custody.inbox import InboxOffer, open_offers_for
    from evidence.custody.service import (
        accept_transfer,
        cancel_transfer,
        check_in,
        check_out,
        custody_history,
        decline_transfer,
        get_transfer,
        offer_lab_submission,
        offer_release,
        offer_transfer,
        record_analysis,
        record_destruction,
        record_integrity_incident,
        scan,
        scan_item,
        seal_item,
    )
    from evidence.custody.visibility import require_item_visible, visible_items
    from evidence.custody.withdrawal import cancel_offers_on_withdrawal
    from evidence.items import lock_item

_LAZY = {
    **dict.fromkeys(("accept_transfer", "cancel_transfer", "check_in", "check_out", "custody_history",
                     "decline_transfer", "get_transfer", "offer_lab_submission", "offer_release",
                     "offer_transfer", "record_analysis", "record_destruction", "record_integrity_incident",
                     "scan", "scan_item", "seal_item"), "evidence.custody.service"),
    "InboxOffer": "evidence.custody.inbox",
    "open_offers_for": "evidence.custody.inbox",
    "require_item_visible": "evidence.custody.visibility",
    "visible_items": "evidence.custody.visibility",
    "cancel_offers_on_withdrawal": "evidence.custody.withdrawal",
    "lock_item": "evidence.items",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AnalysisCreate", "CheckInCreate", "CheckOutCreate", "CustodyEvent", "CustodyEventKind", "CustodyEventPublic",
    "DestroyCreate", "InboxOffer", "SealCreate", "Transfer", "TransferAccept", "TransferClose", "TransferCreate",
    "TransferPublic", "TransferPurpose", "TransferStatus", "accept_transfer", "add_event",
    "cancel_offers_on_withdrawal", "cancel_transfer", "check_in", "check_out", "custody_history",
    "decline_transfer", "get_transfer", "lock_item", "offer_lab_submission", "offer_release",
    "offer_transfer", "open_offers_for", "record_analysis", "record_destruction", "record_integrity_incident",
    "require_item_visible", "scan", "scan_item", "seal_item", "visible_items",
]
assert set(_LAZY) <= set(__all__)
