"""Pure rules of the object store adapter (evidence.storage_rules): payload hashes are left unsigned only over TLS
or to a loopback store that ignores them; the server-side encryption check's verdict."""

from __future__ import annotations

import pytest

from evidence.storage_rules import endpoint_host, is_loopback_host, needs_payload_probe, payload_hash_mode, sse_problem


@pytest.mark.parametrize(("endpoint", "host"), [
    ("127.0.0.1:8333", "127.0.0.1"), ("localhost:9000", "localhost"), ("[::1]:9000", "::1"), ("::1", "::1"),
    ("minio:9000", "minio"), ("S3.Example.ORG", "s3.example.org"), ("http://10.0.0.5:9000/", "10.0.0.5"),
    ("localhost.:9000", "localhost"),
])
def test_endpoint_host(endpoint, host):
    assert endpoint_host(endpoint) == host


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("localhost", True),
    ("10.0.0.5", False), ("192.0.2.2", False), ("::ffff:10.0.0.1", False), ("minio", False),
    ("localhost.evil.example", False), ("127.0.0.1.nip.io", False), ("0.0.0.0", False), ("", False),  # noqa: S104
])
def test_loopback_is_a_literal_loopback_address_or_localhost(host, loopback):
    assert is_loopback_host(host) is loopback


# (host, secure, probe says the store ignores payload hashes) -> mode
DECISIONS = [
    ("127.0.0.1", False, True, "unsigned"),   # loopback SeaweedFS that ignores the hash: no pass wasted
    ("127.0.0.1", False, False, "signed"),    # loopback store that checks (or a failed probe): signed
    ("127.0.0.1", False, None, "signed"),     # not probed: signed
    ("localhost", False, True, "unsigned"),
    ("::1", False, True, "unsigned"),
    ("minio", False, True, "signed"),         # a store on the network over plain HTTP: always signed
    ("10.0.0.5", False, True, "signed"),
    ("192.0.2.2", False, None, "signed"),
    ("s3.example.org", True, False, "unsigned"),  # TLS: the SDK's own UNSIGNED-PAYLOAD, the body is in TLS
    ("s3.example.org", True, None, "unsigned"),
    ("127.0.0.1", True, False, "unsigned"),
]


@pytest.mark.parametrize(("host", "secure", "probe", "mode"), DECISIONS)
def test_payload_hash_mode(host, secure, probe, mode):
    assert payload_hash_mode(host, secure=secure, store_ignores_hash=probe) == mode


def test_only_plain_http_to_loopback_is_probed():
    assert needs_payload_probe("127.0.0.1", secure=False)
    assert not needs_payload_probe("127.0.0.1", secure=True)
    assert not needs_payload_probe("minio", secure=False)
    assert not needs_payload_probe("192.0.2.2", secure=False)


def test_unsigned_only_over_tls_or_to_loopback():
    """Whatever the probe says, plain HTTP to a non-loopback host is signed."""
    for host in ("minio", "10.1.2.3", "fd00::1", "s3.internal"):
        for probe in (True, False, None):
            assert payload_hash_mode(host, secure=False, store_ignores_hash=probe) == "signed"


def test_sse_verdict():
    assert sse_problem("AES256", True, []) is None
    assert sse_problem("aes256", True, []) is None
    assert "in clear" in sse_problem("AES256", True, ["data/b_1.dat"])
    assert "does not encrypt" in sse_problem(None, True, [])
    assert "does not encrypt" in sse_problem("aws:kms", True, [])
    assert "read back" in sse_problem("AES256", False, [])
