"""Evidence items, files, labels, custody actions and the survivor's kit-status lookup over HTTP.

Each route declares exactly one permission. Item-addressed routes whose permission is case-scoped resolve
the case from the item. Uploads stream the raw body (`request.stream()`) into the object store through a
worker thread that pulls one chunk at a time, so memory stays bounded whatever the file size; downloads are
StreamingResponses whose bytes are re-hashed as they go out.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict
from sqlmodel import Session

from api import problems
from api.deps import ClockDep, CommitRoute, SessionDep, SettingsDep, get_app_store, require
from api.disposition import upload_filename
from api.ratelimit import client_key
from core.actors import Actor
from core.db import commit_early
from core.errors import AuthenticationFailed, PermissionDenied, ValidationFailed
from evidence import contact_requests as contact
from evidence import (
    custody,
    destruction,
    files,
    incidents,
    items,
    labels,
    lookup,
    lookup_guard,
    survivor_card,
    texts,
)
from evidence.contact_requests import ContactHandled, ContactRequestPublic, RequestState
from evidence.custody import (
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
from evidence.files import EvidenceFilePublic
from evidence.incidents import IncidentReport, IncidentResolve, IntegrityIncidentPublic
from evidence.items import EvidenceItemCreate, EvidenceItemPublic
from evidence.lookup import KitStatus, LookupEnrolment, LookupRequest
from evidence.lookup_rules import typed_code
from policies.permissions import Permission as P

router = APIRouter(tags=["evidence"], route_class=CommitRoute)

BLOCK = 1024 * 1024
PREFETCH_BLOCKS = 8


def _item_case(session: Session, params: dict[str, Any]) -> str | None:
    """The case of the item in the path (NotFound for unknown or junk ids)."""
    return items.get_item(session, str(params["item_id"])).case_id


class ScanRequest(BaseModel):
    """Body of a barcode scan: the desk's location (used when the scan checks the item in)."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    location: str | None = None


class LegalHoldRequest(BaseModel):
    """Body of POST /items/{item_id}/legal-hold."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    on: bool = True


class CustodyAction(BaseModel):
    """What a custody action returns: the event written and the item's state after it."""

    event: CustodyEventPublic
    item: EvidenceItemPublic


def _item_public(session: Session, item_id: str) -> EvidenceItemPublic:
    item = items.get_item(session, item_id)
    return texts.show_item(session, items.to_public(item, session.get(items.ItemCustody, item.id),
                                                   incidents.open_incident_ids(session, item.id)))


def _action(session: Session, event: custody.CustodyEvent) -> CustodyAction:
    return CustodyAction(event=texts.show_event(session, event), item=_item_public(session, event.item_id))


# --- items -------------------------------------------------------------------------------------------

@router.post("/cases/{case_id}/items", status_code=201, response_model=EvidenceItemPublic)
def create_item(case_id: str, body: EvidenceItemCreate, session: SessionDep, settings: SettingsDep,
                clock: ClockDep, actor: Actor = require(P.ITEM_CREATE)) -> EvidenceItemPublic:
    """Record a collected item (consent-guarded kinds pass the checkpoint); the collector holds it."""
    item = items.collect_item(session, actor=actor, case_id=case_id, data=body, now=clock.now(),
                              retention_days=settings.default_retention_days)
    return _item_public(session, item.id)


@router.get("/cases/{case_id}/items", response_model=list[EvidenceItemPublic])
def list_case_items(case_id: str, session: SessionDep, actor: Actor = require(P.ITEM_READ)) -> list[Any]:
    """Items of a case with their current custody state (law enforcement: only items released/offered to them)."""
    return [_item_public(session, i.id) for i in custody.visible_items(session, actor=actor, case_id=case_id)]


@router.get("/items/{item_id}", response_model=EvidenceItemPublic)
def read_item(item_id: str, session: SessionDep, actor: Actor = require(P.ITEM_READ)) -> EvidenceItemPublic:
    """One item and who holds it now (law enforcement: only items released or offered to them)."""
    items.get_item(session, item_id)
    custody.require_item_visible(session, actor=actor, item_id=item_id)
    return _item_public(session, item_id)


@router.get("/items/{item_id}/custody", response_model=list[CustodyEventPublic])
def item_custody(item_id: str, session: SessionDep, actor: Actor = require(P.CUSTODY_READ)) -> list[Any]:
    """The item's full custody history, oldest first (law enforcement: only items released/offered to them)."""
    items.get_item(session, item_id)
    custody.require_item_visible(session, actor=actor, item_id=item_id)
    return texts.show_events(session, custody.custody_history(session, item_id))


# --- files --------------------------------------------------------------------------------------------

@router.put("/items/{item_id}/file", status_code=201, response_model=EvidenceFilePublic,
            responses={400: problems.PROBLEM_RESPONSES[422] | {"description": "Malformed Content-Disposition"}})
async def upload_item_file(item_id: str, request: Request, session: SessionDep, settings: SettingsDep,
                           clock: ClockDep, legal_hold: bool = False,
                           content_disposition: Annotated[str | None, Header(max_length=1024)] = None,
                           actor: Actor = require(P.FILE_UPLOAD, case_from=_item_case)) -> Any:
    """Stream the raw request body into the object store (SHA-256 on the way, bounded memory).

    An optional file name comes in `Content-Disposition: attachment; filename*=UTF-8''…` (RFC 6266), never in
    the URL: URLs end up in proxy and server logs, and a file name can carry a survivor's name.
    """
    if "filename" in request.query_params:
        raise ValidationFailed("send the file name in the Content-Disposition header (attachment; "
                               "filename*=UTF-8''…), not in the URL: URLs are logged")
    filename = upload_filename(content_disposition)  # strict: a malformed header is a 400, not a name
    declared = request.headers.get("content-length")
    length = int(declared) if declared and declared.isdigit() else -1
    # Receive ahead of the store: a task gathers the body into ~1 MiB blocks in a small bounded queue, so the
    # client keeps sending while a part is being written to S3 (bounded memory: PREFETCH_BLOCKS MiB).
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(maxsize=PREFETCH_BLOCKS)

    async def receive() -> None:
        block: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                block.append(chunk)
                size += len(chunk)
                if size >= BLOCK:
                    await queue.put(b"".join(block))
                    block, size = [], 0
            if block:
                await queue.put(b"".join(block))
            await queue.put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it in context
            await queue.put(exc)

    def body() -> Any:
        # Runs in the worker thread: take the next block from the event loop only when the store wants it.
        while True:
            item = anyio.from_thread.run(queue.get)
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    producer = asyncio.ensure_future(receive())
    try:
        store = await anyio.to_thread.run_sync(get_app_store, request)
        row = await anyio.to_thread.run_sync(lambda: files.upload_file(
            session, store, actor=actor, item_id=item_id, stream=body(), filename=filename,
            content_type=request.headers.get("content-type", "application/octet-stream"), length=length,
            max_bytes=settings.upload_max_bytes, legal_hold=legal_hold, now=clock.now()))
    finally:
        producer.cancel()  # a refused upload stops receiving (the queue is not drained any more)
    return texts.show_file(session, row)


@router.get("/items/{item_id}/file", response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}}}})
def download_item_file(item_id: str, request: Request, session: SessionDep, clock: ClockDep,
                       file_id: str | None = None,
                       actor: Actor = require(P.FILE_DOWNLOAD, case_from=_item_case)) -> StreamingResponse:
    """Stream the stored file, re-verifying its SHA-256 as it goes (a mismatch aborts and is recorded)."""
    row, stream = files.open_file(session, get_app_store(request), actor=actor, item_id=item_id, file_id=file_id,
                                  now=clock.now())
    commit_early(session, "the checkpoint/access entries are kept, and no transaction is held while streaming")
    return StreamingResponse(stream, media_type="application/octet-stream", headers={
        "Content-Length": str(row.size), "X-Content-SHA256": row.sha256 or "",
        "Content-Disposition": f'attachment; filename="{row.item_id}-{row.id}"'})


@router.post("/items/{item_id}/legal-hold", response_model=list[EvidenceFilePublic])
def legal_hold(item_id: str, body: LegalHoldRequest, request: Request, session: SessionDep, clock: ClockDep,
               actor: Actor = require(P.LEGAL_HOLD)) -> list[Any]:
    """Set or lift the legal hold on the item (with or without files) and every stored file of it."""
    return [texts.show_file(session, f) for f in files.set_legal_hold(session, get_app_store(request), actor=actor,
                                                                      item_id=item_id, on=body.on, now=clock.now())]


# --- labels -------------------------------------------------------------------------------------------

@router.get("/items/{item_id}/label.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
def label_png(item_id: str, session: SessionDep, actor: Actor = require(P.LABEL_PRINT),
              size: labels.LabelSize = Query(labels.LabelSize.QL_62MM, description="Label size (printer stock).")
              ) -> Response:
    """A PNG label at the printer's resolution (300 dpi): QR code and Code 128 of the item id, id, kind, date."""
    item = items.get_item(session, item_id)
    return Response(labels.label_png(item.id, kind=item.kind, collected_at=item.collected_at, size=size),
                    media_type="image/png")


@router.get("/items/{item_id}/label.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
def label_pdf(item_id: str, session: SessionDep, actor: Actor = require(P.LABEL_PRINT),
              size: labels.LabelSize = Query(labels.LabelSize.QL_62MM, description="Label size (printer stock).")
              ) -> Response:
    """A one-page PDF label of the given size: QR code and Code 128 of the item id, id, kind, date."""
    item = items.get_item(session, item_id)
    return Response(labels.label_pdf(item.id, kind=item.kind, collected_at=item.collected_at, size=size),
                    media_type="application/pdf")


# --- custody ------------------------------------------------------------------------------------------

@router.post("/items/{item_id}/seal", response_model=CustodyAction)
def seal(item_id: str, body: SealCreate, session: SessionDep, clock: ClockDep,
         actor: Actor = require(P.ITEM_SEAL)) -> CustodyAction:
    """Record the seal number put on the item's package."""
    return _action(session, custody.seal_item(session, actor=actor, item_id=item_id, data=body, now=clock.now()))


@router.post("/items/{item_id}/transfers", status_code=201, response_model=TransferPublic)
def offer(item_id: str, body: TransferCreate, session: SessionDep, clock: ClockDep,
          actor: Actor = require(P.TRANSFER_OFFER)) -> Any:
    """Offer the item to another staff member (release/lab purposes pass the consent checkpoint)."""
    if body.purpose == custody.TransferPurpose.RELEASE:
        # A release needs the case-scoped RELEASE permission, which this generic route does not check.
        raise PermissionDenied(f"releases to law enforcement go through POST /items/{item_id}/release")
    return texts.show_transfer(session, custody.offer_transfer(session, actor=actor, item_id=item_id, data=body,
                                                               now=clock.now()))


@router.post("/transfers/{transfer_id}/accept", response_model=CustodyAction)
def accept(transfer_id: str, body: TransferAccept, session: SessionDep, clock: ClockDep,
           actor: Actor = require(P.TRANSFER_ACCEPT)) -> CustodyAction:
    """The receiver confirms the handoff; custody passes to them."""
    return _action(session, custody.accept_transfer(session, actor=actor, transfer_id=transfer_id, data=body,
                                                    now=clock.now()))


@router.post("/transfers/{transfer_id}/decline", response_model=CustodyAction)
def decline(transfer_id: str, body: TransferClose, session: SessionDep, clock: ClockDep,
            actor: Actor = require(P.TRANSFER_ACCEPT)) -> CustodyAction:
    """The receiver refuses the offered item (with a reason); the custodian keeps it."""
    return _action(session, custody.decline_transfer(session, actor=actor, transfer_id=transfer_id, data=body,
                                                     now=clock.now()))


@router.post("/transfers/{transfer_id}/cancel", response_model=CustodyAction)
def cancel(transfer_id: str, body: TransferClose, session: SessionDep, clock: ClockDep,
           actor: Actor = require(P.TRANSFER_OFFER)) -> CustodyAction:
    """The offering custodian withdraws an open offer (with a reason); the item can move again."""
    return _action(session, custody.cancel_transfer(session, actor=actor, transfer_id=transfer_id, data=body,
                                                    now=clock.now()))


@router.post("/items/{item_id}/check-in", response_model=CustodyAction)
def check_in(item_id: str, body: CheckInCreate, session: SessionDep, clock: ClockDep,
             actor: Actor = require(P.CHECK_IN_OUT)) -> CustodyAction:
    """Store the item at a location."""
    return _action(session, custody.check_in(session, actor=actor, item_id=item_id, data=body, now=clock.now()))


@router.post("/items/{item_id}/check-out", response_model=CustodyAction)
def check_out(item_id: str, body: CheckOutCreate, session: SessionDep, clock: ClockDep,
              actor: Actor = require(P.CHECK_IN_OUT)) -> CustodyAction:
    """Take the item out of storage (409 naming the holder if someone else was first)."""
    return _action(session, custody.check_out(session, actor=actor, item_id=item_id, data=body, now=clock.now()))


@router.post("/items/{item_id}/scan", response_model=CustodyAction)
def scan(item_id: str, body: ScanRequest, session: SessionDep, clock: ClockDep,
         actor: Actor = require(P.CHECK_IN_OUT)) -> CustodyAction:
    """A barcode scan at a desk: checks the item out if it is checked in, else in at `location`."""
    event, item, state = custody.scan_item(session, actor=actor, item_id=item_id, location=body.location,
                                           now=clock.now())
    # The response is built from the rows the scan locked and wrote (same transaction): no second read.
    return CustodyAction(event=texts.show_event(session, event), item=texts.show_item(
        session, items.to_public(item, state, incidents.open_incident_ids(session, item.id))))


@router.post("/items/{item_id}/release", status_code=201, response_model=TransferPublic)
def release(item_id: str, body: TransferCreate, session: SessionDep, clock: ClockDep,
            actor: Actor = require(P.RELEASE, case_from=_item_case)) -> Any:
    """Offer the item to law enforcement (written release consent first); done when the officer accepts."""
    return texts.show_transfer(session, custody.offer_release(session, actor=actor, item_id=item_id, data=body,
                                                              now=clock.now()))


@router.post("/items/{item_id}/lab-submission", status_code=201, response_model=TransferPublic)
def lab_submission(item_id: str, body: TransferCreate, session: SessionDep, clock: ClockDep,
                   actor: Actor = require(P.TRANSFER_OFFER)) -> Any:
    """Offer the item to lab staff for testing (release + testing consent first); done when they accept."""
    return texts.show_transfer(session, custody.offer_lab_submission(session, actor=actor, item_id=item_id,
                                                                     data=body, now=clock.now()))


@router.post("/items/{item_id}/analysis", response_model=CustodyAction)
def analysis(item_id: str, body: AnalysisCreate, session: SessionDep, clock: ClockDep,
             actor: Actor = require(P.ANALYSE)) -> CustodyAction:
    """Record that the lab analysed the item."""
    return _action(session, custody.record_analysis(session, actor=actor, item_id=item_id, data=body,
                                                    now=clock.now()))


@router.post("/items/{item_id}/destroy", status_code=201, response_model=destruction.DestructionProposalPublic)
def destroy(item_id: str, body: DestroyCreate, session: SessionDep, clock: ClockDep,
            actor: Actor = require(P.DESTRUCTION_PROPOSE)) -> Any:
    """Propose the item's destruction (first of two people; after its retention date and notice period, never
    under legal hold). A different authorised person approves it: POST /items/{item_id}/destruction/approve."""
    return destruction.to_public(destruction.propose_destruction(session, actor=actor, item_id=item_id, data=body,
                                                                 now=clock.now()), session)


# --- integrity incidents (quarantine) ----------------------------------------------------------------------

@router.post("/items/{item_id}/integrity-incidents", status_code=201, response_model=IntegrityIncidentPublic)
def report_incident(item_id: str, body: IncidentReport, session: SessionDep, clock: ClockDep,
                    actor: Actor = require(P.INCIDENT_REPORT)) -> Any:
    """Report an integrity incident by hand (e.g. a broken or changed seal): the item is quarantined at once."""
    items.get_item(session, item_id)
    custody.require_item_visible(session, actor=actor, item_id=item_id)
    return incidents.to_public(incidents.report_incident(session, actor=actor, item_id=item_id, data=body,
                                                         now=clock.now()), session)


@router.get("/items/{item_id}/integrity-incidents", response_model=list[IntegrityIncidentPublic])
def item_incidents(item_id: str, session: SessionDep, actor: Actor = require(P.CUSTODY_READ)) -> list[Any]:
    """The item's integrity incidents, open and resolved, oldest first."""
    items.get_item(session, item_id)
    custody.require_item_visible(session, actor=actor, item_id=item_id)
    return [incidents.to_public(i, session) for i in incidents.list_item_incidents(session, item_id)]


@router.post("/items/{item_id}/integrity-incidents/{incident_id}/resolve", response_model=IntegrityIncidentPublic)
def resolve_incident(item_id: str, incident_id: Annotated[int, Path(ge=1, le=2**31 - 1)], body: IncidentResolve,
                     session: SessionDep, clock: ClockDep, actor: Actor = require(P.INCIDENT_RESOLVE)) -> Any:
    """Resolve an incident with a recorded finding (auditor or coordinator); the quarantine it held ends."""
    return incidents.to_public(incidents.resolve_incident(session, actor=actor, item_id=item_id,
                                                          incident_id=incident_id, data=body, now=clock.now()),
                               session)


@router.get("/integrity-incidents", response_model=list[IntegrityIncidentPublic])
def all_incidents(session: SessionDep, open_only: bool = True, limit: int = 200,
                  actor: Actor = require(P.INCIDENT_READ)) -> list[Any]:
    """Integrity incidents centre-wide (open ones unless open_only=false), oldest first."""
    return [incidents.to_public(i, session) for i in incidents.list_incidents(session, open_only=open_only,
                                                                             limit=max(1, min(limit, 1000)))]


@router.post("/items/{item_id}/status-lookup", status_code=201, response_model=LookupEnrolment)
def enrol_status_lookup(item_id: str, session: SessionDep, clock: ClockDep,
                        actor: Actor = require(P.ITEM_CREATE, case_from=_item_case)) -> Any:
    """Enrol the item in the survivor's anonymous status lookup (needs status-lookup consent)."""
    return lookup.enrol_lookup(session, actor=actor, item_id=item_id, now=clock.now())


# --- survivor lookup (no auth, rate-limited) ---------------------------------------------------------------

@router.post("/status/lookup", response_model=KitStatus)
def status_lookup(body: LookupRequest, request: Request, session: SessionDep) -> Any:
    """A survivor's kit status from code + temporary password: stage only, no personal data."""
    client = client_key(request)
    if not body.code or not body.password:
        raise ValidationFailed("give the lookup code and the password")
    code = typed_code(body.code)  # as the page reads it: one code, one window, one failure count
    request.app.state.lookup_limiter.hit(f"lookup-ip:{client}", f"lookup-code:{code}")
    settings = request.app.state.settings
    row = lookup_guard.check_credentials(session, code=code, password=body.password,
                                         max_failures=settings.lookup_max_failures)
    if row is None:
        commit_early(session, "a failed lookup counts towards the card's lock even though the request fails")
        raise AuthenticationFailed(lookup.FAILED)
    return lookup.kit_stage(session, row)


@router.post("/items/{item_id}/status-card", status_code=201,
             responses={201: {"content": {"application/pdf": {}}, "description": "the survivor's card (PDF)"}})
def issue_status_card(item_id: str, session: SessionDep, clock: ClockDep, settings: SettingsDep,
                      actor: Actor = require(P.ITEM_CREATE, case_from=_item_case)) -> Response:
    """Issue (or reissue) the survivor's status card: a new code and temporary password, printed once on a PDF
    card; every earlier card of the item stops working. Needs the status-lookup consent."""
    code, password = lookup_guard.issue_card(session, actor=actor, item_id=item_id, now=clock.now())
    pdf = survivor_card.card_pdf(code=code, password=password, page_url=settings.status_page_url,
                                 contact=settings.centre_contact)
    return Response(pdf, status_code=201, media_type="application/pdf",
                    headers={"Cache-Control": "no-store", "Content-Disposition": 'attachment; filename="card.pdf"'})


@router.get("/status-requests", response_model=list[ContactRequestPublic])
def contact_requests(session: SessionDep, actor: Actor = require(P.CASE_LIST), limit: int = 200,
                     state: RequestState = RequestState.OPEN) -> Any:
    """Survivors' "please contact me about my kit" requests from the status page, newest first: a coordinator
    sees every case's, anyone else those of the cases they are assigned to. Open ones unless state=all (then
    the handled ones too, with their outcome, who and when)."""
    return contact.list_contact_requests(session, actor=actor, state=state, limit=max(1, min(limit, 1000)))


@router.post("/status-requests/{request_seq}/handled", response_model=ContactRequestPublic)
def contact_request_handled(request_seq: Annotated[int, Path(ge=1, le=contact.SEQ_MAX)], body: ContactHandled,
                            session: SessionDep, clock: ClockDep,
                            actor: Actor = require(P.CONTACT_HANDLE)) -> Any:
    """Close a contact request with its outcome (reached | left-message | no-answer | unreachable; no free text).
    A request of a case the caller may not see answers as a missing one (404); an already handled one 409."""
    return contact.handle_contact_request(session, actor=actor, seq=request_seq, outcome=body.outcome,
                                          now=clock.now())
