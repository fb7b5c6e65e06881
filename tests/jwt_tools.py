"""Hand-built JWTs (cryptography + base64url, no jose) — what an external IdP's library produces — plus the
attack tokens the verifier must refuse, and a real local HTTP server serving a JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64u(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64(n: int, length: int | None = None) -> str:
    length = length or (n.bit_length() + 7) // 8
    return b64u(n.to_bytes(length, "big"))


@dataclass
class SigningKey:
    """A private key an independent issuer signs with, and its public JWK."""

    alg: str
    kid: str
    private: Any

    @classmethod
    def generate(cls, alg: str, kid: str) -> SigningKey:
        """A fresh ES256 (P-256) or RS256 (2048-bit) key."""
        if alg == "ES256":
            return cls(alg, kid, ec.generate_private_key(ec.SECP256R1()))
        if alg == "RS256":
            return cls(alg, kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))
        raise ValueError(alg)

    @property
    def public_jwk(self) -> dict[str, str]:
        """The public JWK (kid, alg, use)."""
        if self.alg == "ES256":
            nums = self.private.public_key().public_numbers()
            return {"kty": "EC", "crv": "P-256", "x": _int_b64(nums.x, 32), "y": _int_b64(nums.y, 32),
                    "kid": self.kid, "alg": "ES256", "use": "sig"}
        nums = self.private.public_key().public_numbers()
        return {"kty": "RSA", "n": _int_b64(nums.n), "e": _int_b64(nums.e), "kid": self.kid, "alg": "RS256",
                "use": "sig"}

    @property
    def public_pem(self) -> bytes:
        """The public key as PEM (what an algorithm-confusion attacker uses as an HMAC secret)."""
        return self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign_input(self, signing_input: bytes) -> bytes:
        """The raw JOSE signature over `signing_input`."""
        if self.alg == "ES256":
            der = self.private.sign(signing_input, ec.ECDSA(hashes.SHA256()))
            r, s = decode_dss_signature(der)
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


def encode(header: dict[str, Any], claims: dict[str, Any], signer: SigningKey | None = None,
           *, hmac_secret: bytes | None = None) -> str:
    """Build a compact JWS by hand: asymmetric (signer), HMAC (attack), or unsigned (alg none)."""
    h = b64u(json.dumps(header, separators=(",", ":")).encode())
    p = b64u(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{h}.{p}".encode()
    if signer is not None:
        sig = b64u(signer.sign_input(signing_input))
    elif hmac_secret is not None:
        sig = b64u(hmac.new(hmac_secret, signing_input, hashlib.sha256).digest())
    else:
        sig = ""
    return f"{h}.{p}.{sig}"


def claims_for(sub: str, *, iss: str, aud: str, **overrides: Any) -> dict[str, Any]:
    """Valid claims (wall clock) for `sub`; pass a value of None to drop a claim."""
    now = int(time.time())
    claims: dict[str, Any] = {"iss": iss, "aud": aud, "sub": sub, "iat": now, "nbf": now, "exp": now + 300}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def mint(signer: SigningKey, sub: str, *, iss: str, aud: str, **overrides: Any) -> str:
    """A valid token from an independent issuer."""
    return encode({"alg": signer.alg, "typ": "JWT", "kid": signer.kid}, claims_for(sub, iss=iss, aud=aud,
                                                                                  **overrides), signer)


def attack_tokens(signer: SigningKey, sub: str, *, iss: str, aud: str) -> dict[str, str]:
    """Tokens the verifier must refuse, by name (`signer`'s public key is the one the verifier trusts)."""
    now = int(time.time())
    hdr = {"alg": signer.alg, "typ": "JWT", "kid": signer.kid}
    good = mint(signer, sub, iss=iss, aud=aud)
    h, p, s = good.split(".")
    tampered_claims = claims_for("U-someone-else", iss=iss, aud=aud)
    tampered = f"{h}.{b64u(json.dumps(tampered_claims, separators=(',', ':')).encode())}.{s}"
    other = SigningKey.generate(signer.alg, signer.kid)  # same kid, a key the verifier does not trust
    out = {
        "alg-none": encode({"alg": "none", "typ": "JWT", "kid": signer.kid}, claims_for(sub, iss=iss, aud=aud)),
        "alg-none-capital": encode({"alg": "None", "kid": signer.kid}, claims_for(sub, iss=iss, aud=aud)),
        "hs256-with-public-pem": encode({"alg": "HS256", "typ": "JWT", "kid": signer.kid},
                                        claims_for(sub, iss=iss, aud=aud), hmac_secret=signer.public_pem),
        "hs256-with-public-jwk": encode({"alg": "HS256", "typ": "JWT", "kid": signer.kid},
                                        claims_for(sub, iss=iss, aud=aud),
                                        hmac_secret=json.dumps(signer.public_jwk).encode()),
        "unknown-kid": encode({**hdr, "kid": "no-such-key"}, claims_for(sub, iss=iss, aud=aud), signer),
        "no-kid": encode({"alg": signer.alg, "typ": "JWT"}, claims_for(sub, iss=iss, aud=aud), signer),
        "wrong-key-same-kid": encode(hdr, claims_for(sub, iss=iss, aud=aud), other),
        "expired": mint(signer, sub, iss=iss, aud=aud, iat=now - 3600, nbf=now - 3600, exp=now - 600),
        "not-yet-valid-nbf": mint(signer, sub, iss=iss, aud=aud, nbf=now + 600, exp=now + 1200),
        "issued-in-future": mint(signer, sub, iss=iss, aud=aud, iat=now + 600, nbf=None, exp=now + 1200),
        "wrong-aud": mint(signer, sub, iss=iss, aud="someone-else"),
        "wrong-iss": mint(signer, sub, iss="https://evil.example", aud=aud),
        "tampered-payload": tampered,
        "truncated-signature": good[:-8],
        "garbage": "not.a.jwt",
        "embedded-jwk-header": encode({**hdr, "jwk": other.public_jwk}, claims_for(sub, iss=iss, aud=aud), other),
    }
    for claim in ("exp", "iat", "aud", "iss", "sub"):
        claims = claims_for(sub, iss=iss, aud=aud)
        del claims[claim]
        out[f"missing-{claim}"] = encode(hdr, claims, signer)
    return out


@dataclass
class JWKSServer:
    """A real HTTP server on 127.0.0.1 serving a mutable JWKS document; counts GETs."""

    keys: list[dict[str, str]] = field(default_factory=list)
    hits: int = 0
    url: str = ""


@contextmanager
def jwks_server(keys: list[dict[str, str]]) -> Iterator[JWKSServer]:
    """Serve `keys` at http://127.0.0.1:<port>/jwks.json in a thread for the duration of the block."""
    state = JWKSServer(keys=list(keys))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            state.hits += 1
            body = json.dumps({"keys": state.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
