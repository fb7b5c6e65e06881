"""Integrity of reads against real SeaweedFS and both databases: a tampered object is never delivered complete
(service and HTTP), and a fixity pass keeps the incidents it found when a later read fails.

Objects cannot be overwritten (Object Lock), so tampering is simulated as in test_files: a substitute version is
stored under the same key and the file's row is pointed at it. Read failures are injected at the minio client
boundary (the response's stream breaks mid-read); the objects themselves are in the real store.
"""

from __future__ import annotations

import io
import os
from datetime import timedelta

import httpx
import pytest
import urllib3
from sqlalchemy import select, text
from sqlmodel import Session

from core import ledger
from core.errors import DependencyUnavailable, IntegrityViolation
from evidence.files import EvidenceFile, open_file, upload_file
from evidence.fixity import run_fixity
from evidence.items import ItemKind
from evidence.storage import READ_CHUNK
from tests.evidence_support import EXAMINER, new_case, new_item
from tests.unit.test_cli_live import live_api  # noqa: F401  (fixture)

LIMIT = 64 * 1024 * 1024
SIZE = 3 * READ_CHUNK + 5  # four chunks as the store streams them


def _upload(session, store, data: bytes) -> EvidenceFile:
    case_id = new_case(session)
    item_id = new_item(session, case_id, ItemKind.DIGITAL_FILE)
    row = upload_file(session, store, actor=EXAMINER, item_id=item_id, stream=io.BytesIO(data), max_bytes=LIMIT)
    session.commit()
    return row


def _tamper(engine, store, row: EvidenceFile, substitute: bytes) -> None:
    """Store other bytes under the file's key (a new version) and point the row at them."""
    other = store.put_stream(row.object_key, io.BytesIO(substitute), length=len(substitute))
    with Session(engine) as s:
        s.execute(text("UPDATE evidence_file SET version_id = :v WHERE id = :i"),
                  {"v": other.version_id, "i": row.id})
        s.commit()


def _entries(engine, kind: ledger.EventKind) -> list[dict]:
    with Session(engine) as s:
        return [ledger.decode(e)["data"] for e in s.execute(
            select(ledger.LedgerEntry).where(ledger.LedgerEntry.kind == kind).order_by(ledger.LedgerEntry.seq)
        ).scalars()]


def _flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


TAMPERS = {
    "same-size-last-byte": _flip_last,  # everything but the very last byte is the original
    "same-size-first-byte": lambda d: bytes([d[0] ^ 0x01]) + d[1:],
    "longer": lambda d: d + os.urandom(READ_CHUNK + 17),  # the original bytes, then more
    "shorter": lambda d: d[:-READ_CHUNK],
    "single-chunk": None,  # a small file: one chunk, nothing may go out at all
}


# --- (a) service level -------------------------------------------------------------------------------------

@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_tampered_object_is_never_streamed_complete(session, engine, clock, object_store, tamper):
    """The stream raises IntegrityViolation before the last chunk (fewer bytes than recorded), with one incident."""
    if tamper == "single-chunk":
        data, substitute = b"original bytes" * 50, _flip_last(b"original bytes" * 50)
    else:
        data = os.urandom(SIZE)
        substitute = TAMPERS[tamper](data)
    row = _upload(session, object_store, data)
    _tamper(engine, object_store, row, substitute)
    session.expire_all()

    _row, stream = open_file(session, object_store, actor=EXAMINER, item_id=row.item_id)
    session.commit()  # as the download route does: no transaction while streaming
    got: list[bytes] = []
    with pytest.raises(IntegrityViolation, match="incident was recorded"):
        for chunk in stream:
            got.append(chunk)
    received = b"".join(got)
    assert len(received) < len(data)  # the client can never have the whole recorded size
    assert received == substitute[:len(received)]  # what went out was the (unverified) prefix, nothing more
    if tamper == "single-chunk":
        assert received == b""
    else:
        assert len(received) <= len(data) - 5  # at least the final chunk (5 bytes here) was held back
    incidents = _entries(engine, ledger.EventKind.INTEGRITY_INCIDENT)
    assert len(incidents) == 1
    assert incidents[0]["file_id"] == row.id and incidents[0]["reason"] == "sha256-mismatch"
    assert incidents[0]["sha256"] == row.sha256 and incidents[0]["observed_sha256"] != row.sha256


def test_intact_file_streams_fully_in_chunks(session, engine, clock, object_store):
    """An intact file still streams every byte (in several chunks) and records no incident."""
    data = os.urandom(SIZE)
    row = _upload(session, object_store, data)
    _row, stream = open_file(session, object_store, actor=EXAMINER, item_id=row.item_id)
    session.commit()
    chunks = list(stream)
    assert len(chunks) >= 2 and max(map(len, chunks)) <= READ_CHUNK
    assert b"".join(chunks) == data
    assert _entries(engine, ledger.EventKind.INTEGRITY_INCIDENT) == []


# --- (b) through the real API over HTTP --------------------------------------------------------------------

def test_download_of_tampered_file_is_a_broken_transfer(live_api, s3_settings):  # noqa: F811
    """Over real HTTP (uvicorn): an intact download is a full 200; a tampered one never completes."""
    h = live_api.harness
    examiner = live_api.user("examiner")
    with httpx.Client(base_url=live_api.url, headers=examiner.headers, timeout=60) as c:
        case_id = c.post("/cases", json={"reporting": "unrestricted"}).json()["id"]
        for scope in ("forensic-exam", "evidence-swabs"):
            r = c.post(f"/cases/{case_id}/consents", json={"scope": scope, "decision": "granted",
                                                            "method": "written", "form_ref": f"F-{scope}"})
            assert r.status_code == 201, r.text
        r = c.post(f"/cases/{case_id}/items", json={"kind": "swab", "description": "oral swab"})
        assert r.status_code == 201, r.text
        item_id = r.json()["id"]
        data = os.urandom(SIZE)
        r = c.put(f"/items/{item_id}/file", content=data)
        assert r.status_code == 201, r.text
        file_id = r.json()["id"]

        r = c.get(f"/items/{item_id}/file")
        assert r.status_code == 200 and r.content == data

        with Session(h.engine) as s:
            row = s.get(EvidenceFile, file_id)
            assert row is not None
        store = s3_settings.store(h.settings.s3_bucket)
        substitute = _flip_last(data)
        _tamper(h.engine, store, row, substitute)

        received = bytearray()
        # The body ends before its Content-Length: httpx reports a broken transfer, not a response.
        with pytest.raises(httpx.RemoteProtocolError), c.stream("GET", f"/items/{item_id}/file") as r:
            assert r.status_code == 200 and r.headers["content-length"] == str(len(data))
            for part in r.iter_raw():
                received += part
        assert len(received) < len(data)
        assert bytes(received) == substitute[:len(received)]
    incidents = _entries(h.engine, ledger.EventKind.INTEGRITY_INCIDENT)
    assert [i["file_id"] for i in incidents] == [file_id]


# --- (c) fixity and mid-read store failures ----------------------------------------------------------------

class _BreakingResponse:
    """A minio (urllib3) response whose body breaks after the first chunk, as a reset connection does."""

    def __init__(self, resp, error: BaseException) -> None:
        self._resp, self._error = resp, error

    def stream(self, amt: int):
        for chunk in self._resp.stream(amt):
            yield chunk
            raise self._error

    def close(self) -> None:
        self._resp.close()

    def release_conn(self) -> None:
        self._resp.release_conn()


def _break_reads_of(monkeypatch, store, key: str, error: BaseException) -> None:
    """Make the real store's minio client hand back a breaking response for `key` (the objects stay real)."""
    real = store.client.get_object

    def get_object(bucket, object_name, *args, **kwargs):
        resp = real(bucket, object_name, *args, **kwargs)
        return _BreakingResponse(resp, error) if object_name == key else resp

    monkeypatch.setattr(store.client, "get_object", get_object)


MID_READ_ERRORS = {
    "urllib3-protocol": lambda: urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead"),
    "connection-reset": lambda: ConnectionResetError(104, "Connection reset by peer"),
}


@pytest.mark.parametrize("error", list(MID_READ_ERRORS))
def test_mid_read_transport_error_is_dependency_unavailable(session, clock, object_store, monkeypatch, error):
    """A transport error after the body began comes out of get_stream as DependencyUnavailable."""
    data = os.urandom(2 * READ_CHUNK + 1)
    row = _upload(session, object_store, data)
    _break_reads_of(monkeypatch, object_store, row.object_key, MID_READ_ERRORS[error]())
    got = []
    with pytest.raises(DependencyUnavailable, match="failed during a read"):
        for chunk in object_store.get_stream(row.object_key, row.version_id):
            got.append(chunk)
    assert b"".join(got) == data[:len(b"".join(got))] and 0 < len(b"".join(got)) < len(data)


def _two_files_first_tampered(session, engine, clock, store) -> tuple[EvidenceFile, EvidenceFile]:
    first = _upload(session, store, b"first file " * 300)
    clock.advance(timedelta(seconds=1))  # fixity goes in upload order: the tampered file is read first
    second = _upload(session, store, os.urandom(2 * READ_CHUNK + 3))
    _tamper(engine, store, first, _flip_last(b"first file " * 300))
    session.expire_all()
    return first, second


@pytest.mark.parametrize("error", list(MID_READ_ERRORS))
def test_fixity_keeps_incident_when_a_later_read_fails(session, engine, clock, object_store, monkeypatch, error):
    """First file tampered, second breaks mid-read: incident kept, second unreadable, summary recorded."""
    first, second = _two_files_first_tampered(session, engine, clock, object_store)
    _break_reads_of(monkeypatch, object_store, second.object_key, MID_READ_ERRORS[error]())

    report = run_fixity(session, object_store, actor=EXAMINER)
    assert report.checked == 2 and report.ok == 0 and not report.clean
    assert report.mismatched == [first.id] and report.unreadable == [second.id] and report.missing == []
    session.commit()  # the caller commits the pass (its FIXITY_CHECKED entry); the incident was committed already
    incidents = _entries(engine, ledger.EventKind.INTEGRITY_INCIDENT)
    assert [(i["file_id"], i["reason"]) for i in incidents] == [(first.id, "sha256-mismatch")]
    summaries = _entries(engine, ledger.EventKind.FIXITY_CHECKED)
    assert summaries == [report.as_data()]
    with Session(engine) as s:
        assert ledger.verify_chain(s).ok


def test_fixity_incident_survives_an_aborted_pass(session, engine, clock, object_store, monkeypatch):
    """A pass that dies after finding a mismatch (and is rolled back by its caller) still leaves the incident."""

    class Abort(BaseException):
        """Something fixity does not (and must not) swallow: a worker being killed."""

    first, second = _two_files_first_tampered(session, engine, clock, object_store)
    _break_reads_of(monkeypatch, object_store, second.object_key, Abort())
    with pytest.raises(Abort):
        run_fixity(session, object_store, actor=EXAMINER)
    session.rollback()  # what transaction does when the flow fails
    incidents = _entries(engine, ledger.EventKind.INTEGRITY_INCIDENT)
    assert [(i["file_id"], i["reason"]) for i in incidents] == [(first.id, "sha256-mismatch")]
    assert _entries(engine, ledger.EventKind.FIXITY_CHECKED) == []
    with Session(engine) as s:
        assert ledger.verify_chain(s).ok


def test_fixity_counts_a_store_wrapper_failure_as_unreadable(session, engine, clock, object_store):
    """Any error raised by a store's stream (here a bare OSError from a wrapper) is one unreadable file."""
    first, second = _two_files_first_tampered(session, engine, clock, object_store)

    class FlakyStore:
        def __getattr__(self, name):
            return getattr(object_store, name)

        def get_stream(self, key, version_id, **kwargs):
            inner = object_store.get_stream(key, version_id, **kwargs)
            if key != second.object_key:
                return inner

            def broken():
                yield next(inner)
                inner.close()
                raise OSError("disk went away")

            return broken()

    report = run_fixity(session, FlakyStore(), actor=EXAMINER)  # type: ignore[arg-type]
    session.commit()
    assert report.mismatched == [first.id] and report.unreadable == [second.id]
    assert [i["file_id"] for i in _entries(engine, ledger.EventKind.INTEGRITY_INCIDENT)] == [first.id]
    assert _entries(engine, ledger.EventKind.FIXITY_CHECKED) == [report.as_data()]
