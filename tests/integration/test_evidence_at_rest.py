"""Evidence encrypted at rest by the real SeaweedFS (SSE-S3) on SQLite and PostgreSQL: a canary uploaded as evidence
is nowhere in clear in the store's data files, downloads and fixity still verify against the plaintext SHA-256;
the store passes the encryption conformance check; and payload hashes are signed to a non-loopback store."""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import socket
import subprocess
from pathlib import Path

from api.stack.seaweed import start_seaweed
from evidence.files import read_file, upload_file
from evidence.fixity import run_fixity
from evidence.items import ItemKind
from evidence.storage import PART_SIZE, UNSIGNED_PAYLOAD, MinioObjectStore, _files_holding
from tests.evidence_support import EXAMINER, new_case, new_item

LIMIT = 64 * 1024 * 1024


def _in_clear(data_dir: Path, needle: bytes) -> list[str]:
    """Every file of the store's data directory holding `needle` in clear (grep over all of it)."""
    out = subprocess.run(["grep", "-rlaF", needle.decode(), str(data_dir)], capture_output=True, text=True,
                         check=False)
    assert out.returncode in (0, 1), out.stderr
    return out.stdout.split()


def _body_with(canary: bytes, size: int, at: int) -> bytes:
    body = bytearray(os.urandom(size))
    body[at:at + len(canary)] = canary
    return bytes(body)


def test_evidence_canary_is_not_in_clear_and_reads_verify(session, clock, object_store, s3_settings):
    """One small file (single PUT) and one of three parts (multipart, the canary in the second part)."""
    assert s3_settings.data_dir is not None, "this check greps the embedded SeaweedFS's data files"
    case_id = new_case(session)
    files = []
    for size, at in ((50_000, 20_000), (2 * PART_SIZE + 4321, PART_SIZE + 100)):
        canary = f"COC-EVIDENCE-CANARY-{secrets.token_hex(16)}".encode()
        data = _body_with(canary, size, at)
        item_id = new_item(session, case_id, ItemKind.DIGITAL_FILE)
        row = upload_file(session, object_store, actor=EXAMINER, item_id=item_id, stream=io.BytesIO(data),
                          filename="dump.bin", max_bytes=LIMIT)
        session.commit()
        assert row.sha256 == hashlib.sha256(data).hexdigest()  # the evidence's hash is of the plaintext
        files.append((item_id, row, data, canary))
    for item_id, row, data, canary in files:
        assert _in_clear(s3_settings.data_dir, canary) == [], "evidence bytes found in clear at rest"
        info = object_store.client.stat_object(object_store.bucket, row.object_key, version_id=row.version_id)
        assert info.metadata.get("x-amz-server-side-encryption") == "AES256"
        assert read_file(session, object_store, actor=EXAMINER, item_id=item_id) == data
    report = run_fixity(session, object_store, actor=EXAMINER)
    assert report.clean and report.ok == 2


def test_the_same_upload_without_sse_is_found_in_clear(object_store, s3_settings):
    """Control: the grep, and check_encryption's own scan (whose verdict evidence.storage_rules.sse_problem turns
    into a refusal, tests/unit/test_storage_rules.py), do find bytes the store keeps in clear."""
    assert s3_settings.data_dir is not None
    plain = MinioObjectStore(s3_settings.endpoint, s3_settings.access_key, s3_settings.secret_key,
                             object_store.bucket, sse="off")
    canary = f"COC-PLAIN-CANARY-{secrets.token_hex(16)}".encode()
    put = plain.put_stream("E0000000000000000/plain", io.BytesIO(_body_with(canary, 30_000, 1000)), length=30_000)
    assert put.version_id
    assert _in_clear(s3_settings.data_dir, canary)
    assert _files_holding(s3_settings.data_dir, canary, since=0)


def test_seaweedfs_passes_the_encryption_check(object_store, s3_settings):
    """check_encryption: the store reports AES256 for the canary, reads it back, and (embedded) its data files do
    not hold the canary's marker."""
    store = MinioObjectStore(s3_settings.endpoint, s3_settings.access_key, s3_settings.secret_key,
                             object_store.bucket, raw_data_dir=s3_settings.data_dir)
    store.check_encryption()
    store.check_object_lock()


def _non_loopback_ipv4() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # no packet is sent: only the route's source address is chosen
        addr = s.getsockname()[0]
    assert not addr.startswith("127."), "this machine has no non-loopback IPv4 address for the test store"
    return addr


def test_payloads_are_signed_to_a_store_off_loopback_and_unsigned_on_it(object_store, tmp_path):
    """The same SeaweedFS (which ignores payload hashes) reached over loopback gets UNSIGNED-PAYLOAD after the
    probe; one listening on the machine's network address gets signed payloads, unprobed; both round trips read
    back intact."""
    data = hashlib.sha256(b"net").digest() * ((PART_SIZE + 999) // 32)  # two parts
    object_store.put_stream("E0000000000000000/lo", io.BytesIO(data), length=len(data))
    assert object_store.payload_mode == "unsigned" and object_store.client.payload_hash == UNSIGNED_PAYLOAD

    access, secret = "coctest" + secrets.token_hex(4), secrets.token_urlsafe(24)
    server = start_seaweed(tmp_path / "net", access_key=access, secret_key=secret, host=_non_loopback_ipv4())
    try:
        remote = MinioObjectStore(server.endpoint, access, secret, f"coc-net-{secrets.token_hex(4)}")
        remote.ensure_bucket()
        put = remote.put_stream("E0000000000000000/net", io.BytesIO(data), length=len(data))
        assert remote.payload_mode == "signed" and remote.client.payload_hash is None
        assert b"".join(remote.get_stream(put.key, put.version_id)) == data
        assert remote.store_ignores_payload_hash() is True  # the store would have accepted unsigned: we did not
    finally:
        server.stop()
