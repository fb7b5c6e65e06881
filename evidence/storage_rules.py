"""PURE decisions of the object store adapter (evidence.storage): when an upload may go without a signed payload
hash, and whether a store's server-side encryption passed its conformance check. No I/O here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Literal

PayloadMode = Literal["signed", "unsigned"]
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def endpoint_host(endpoint: str) -> str:
    """The host of a minio-style endpoint ("host:port", "[v6]:port", "host"), lower-cased, no brackets."""
    value = endpoint.strip()
    if "://" in value:  # tolerate a scheme although the SDK takes none
        value = value.split("://", 1)[1]
    value = value.split("/", 1)[0]
    if value.startswith("["):
        return value[1:value.index("]")].lower() if "]" in value else value[1:].lower()
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.lower().rstrip(".")


def is_loopback_host(host: str) -> bool:
    """True for a loopback address literal (127.0.0.0/8, ::1) or the name localhost. Other names are not resolved:
    a name that resolves to loopback today may not tomorrow, so it counts as remote (payloads stay signed)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def payload_hash_mode(host: str, *, secure: bool, store_ignores_hash: bool | None) -> PayloadMode:
    """How upload bodies are sent: "unsigned" (UNSIGNED-PAYLOAD) or "signed" (the SHA-256 of the body in the signed
    x-amz-content-sha256 header).

    - over TLS: "unsigned" — TLS protects the body in transit (the SDK's own choice over HTTPS);
    - over plain HTTP to a loopback store: "unsigned" only when the probe showed the store ignores the hash
      (`store_ignores_hash` True): then signing protects nothing and costs a pass over every byte;
    - over plain HTTP to any other host: "signed", whatever the probe says — on a network the signed hash is
      what binds the body to the request (the probe is not even needed: pass None).
    """
    if secure:
        return "unsigned"
    if is_loopback_host(host) and store_ignores_hash is True:
        return "unsigned"
    return "signed"


def needs_payload_probe(host: str, *, secure: bool) -> bool:
    """True when the payload-hash probe can change the decision: plain HTTP to a loopback store."""
    return not secure and is_loopback_host(host)


def sse_problem(reported: str | None, round_trip_ok: bool, found_in_clear: Iterable[str]) -> str | None:
    """Why a store's server-side encryption fails its conformance check, or None when it passes.

    `reported`: the x-amz-server-side-encryption the store answered for the canary ("AES256" for SSE-S3);
    `round_trip_ok`: the canary read back unchanged; `found_in_clear`: data files of the store (when we can read
    them: the embedded store) that hold the canary's marker bytes in clear.
    """
    found = sorted(found_in_clear)
    if found:
        return (f"the store wrote the canary in clear to its data files ({', '.join(found[:3])}): server-side "
                "encryption is not applied")
    if (reported or "").upper() != "AES256":
        return (f"the store answered x-amz-server-side-encryption={reported or 'none'} for an object put with "
                "SSE-S3 (AES256): it does not encrypt at rest")
    if not round_trip_ok:
        return "the canary put with SSE-S3 did not read back unchanged"
    return None
