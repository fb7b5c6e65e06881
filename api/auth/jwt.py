"""Bearer JWT validation — the ONLY module that imports python-jose.

Security assumptions (see /work/shared/pitfalls.md): jose's defaults are unsafe, so we
  * accept only asymmetric algorithms (ES256/RS256 family) and pin `algorithms=[<header alg>]` after checking it
    against that allow-list (no `none`, no HS* — an HS256 token "signed" with our public key is refused);
  * pick the key by `kid` ourselves and hand jose exactly one key constructed for that algorithm (never a JWKS);
  * require exp, iat, aud, iss and sub; refuse iat in the future (beyond a small leeway);
  * check validity against the wall clock: token lifetime is a real-time security property, not business time.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx
from jose import jwk, jwt
from jose.exceptions import JOSEError

from core.errors import AuthenticationFailed, DependencyUnavailable

# A real access token is well under 2 KB (a few claims, one ES256/RS256 signature); anything far larger is an
# attack on the decoder (base64 + JSON of megabytes, per request, before the signature is checked).
MAX_TOKEN_BYTES = 8 * 1024
NUMERIC_DATES = ("exp", "iat", "nbf")

ASYMMETRIC = {"ES256": "EC", "ES384": "EC", "ES512": "EC", "RS256": "RSA", "RS384": "RSA", "RS512": "RSA"}


class KeySource(Protocol):
    """Where verification keys come from: the public JWK for a `kid`, or None when unknown."""

    def get_key(self, kid: str) -> dict[str, Any] | None:
        """Return the public JWK (dict) with this kid, or None."""
        ...


class StaticKeySource:
    """A fixed set of public JWKs (the embedded issuer's own keys, or tests)."""

    def __init__(self, keys: list[dict[str, Any]] | Callable[[], list[dict[str, Any]]]) -> None:
        self._keys = keys

    def get_key(self, kid: str) -> dict[str, Any] | None:
        """Return the JWK with this kid, or None."""
        keys = self._keys() if callable(self._keys) else self._keys
        return next((k for k in keys if k.get("kid") == kid), None)


class JWKSKeySource:
    """Keys from an OIDC provider's JWKS URL (e.g. Keycloak), cached; an unknown kid triggers one refetch."""

    def __init__(self, url: str, *, ttl_s: float = 300.0, timeout_s: float = 5.0,
                 min_refetch_interval_s: float = 10.0, client: httpx.Client | None = None) -> None:
        self.url = url
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        # Why: without a floor, tokens with random kids would make us hammer the IdP (amplification).
        self.min_refetch_interval_s = min_refetch_interval_s
        self._client = client
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetch_count = 0

    def _fetch(self) -> None:
        try:
            if self._client is not None:
                resp = self._client.get(self.url, timeout=self.timeout_s)
            else:
                resp = httpx.get(self.url, timeout=self.timeout_s, follow_redirects=False)
            resp.raise_for_status()
            doc = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise DependencyUnavailable(f"cannot fetch the identity provider's keys ({type(exc).__name__})") from None
        self.fetch_count += 1
        keys = doc.get("keys") if isinstance(doc, dict) else None
        if not isinstance(keys, list):
            raise DependencyUnavailable("the identity provider's JWKS has no 'keys' list")
        self._keys = {k["kid"]: k for k in keys if isinstance(k, dict) and isinstance(k.get("kid"), str)}
        self._fetched_at = time.monotonic()

    def get_key(self, kid: str) -> dict[str, Any] | None:
        """Return the JWK for `kid`, fetching when the cache is stale and refetching once when kid is unknown."""
        with self._lock:
            now = time.monotonic()
            if self._fetched_at is None or now - self._fetched_at > self.ttl_s:
                self._fetch()
            elif kid not in self._keys and now - self._fetched_at >= self.min_refetch_interval_s:
                self._fetch()  # key rotation: the provider may have published a new key since we cached
            return self._keys.get(kid)


class TokenVerifier:
    """Validates Bearer tokens for one issuer and audience against a KeySource."""

    def __init__(self, key_source: KeySource, *, issuer: str, audience: str,
                 algorithms: list[str] | tuple[str, ...] = ("ES256", "RS256"), leeway_s: int = 30) -> None:
        bad = [a for a in algorithms if a not in ASYMMETRIC]
        if bad:
            raise ValueError(f"only asymmetric JWT algorithms are accepted, not {bad}")
        self.key_source = key_source
        self.issuer = issuer
        self.audience = audience
        self.algorithms = tuple(algorithms)
        self.leeway_s = leeway_s

    def verify(self, token: str) -> dict[str, Any]:
        """Return the verified claims of `token`, or raise AuthenticationFailed (never says which check failed)."""
        if len(token) > MAX_TOKEN_BYTES:
            raise AuthenticationFailed(f"the access token is longer than {MAX_TOKEN_BYTES} bytes: this server "
                                       "does not read it (sign in again for a normal token)")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.get_unverified_claims(token)
        except JOSEError:
            raise AuthenticationFailed("the access token is malformed") from None
        check_claim_types(unverified)
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self.algorithms:
            raise AuthenticationFailed("the access token uses an algorithm this server does not accept")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationFailed("the access token has no key id")
        if header.get("crit") is not None or header.get("jku") or header.get("x5u") or header.get("jwk"):
            # Why: header-supplied keys/URLs would let the token choose its own verification key.
            raise AuthenticationFailed("the access token carries header parameters this server refuses")
        public = self.key_source.get_key(kid)
        if public is None:
            raise AuthenticationFailed("the access token was signed with an unknown key")
        if public.get("kty") != ASYMMETRIC[alg] or public.get("alg", alg) != alg or "d" in public:
            raise AuthenticationFailed("the access token's algorithm does not match its key")
        try:
            key = jwk.construct(public, algorithm=alg)
            claims = jwt.decode(
                token, key, algorithms=[alg], audience=self.audience, issuer=self.issuer,
                options={"require_aud": True, "require_iss": True, "require_exp": True, "require_iat": True,
                         "require_sub": True, "verify_at_hash": False, "leeway": self.leeway_s},
            )
        except JOSEError:
            raise AuthenticationFailed("the access token is invalid or expired") from None
        iat = claims.get("iat")
        if not isinstance(iat, int | float) or iat > time.time() + self.leeway_s:
            raise AuthenticationFailed("the access token is not valid yet")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise AuthenticationFailed("the access token has no subject")
        return claims


def check_claim_types(claims: dict[str, Any]) -> None:
    """Refuse, before any signature check, claims of the wrong JSON type: dates (exp, iat, nbf) must be numbers
    (RFC 7519 NumericDate; not strings, not booleans) and the subject a non-empty string."""
    for name in NUMERIC_DATES:
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise AuthenticationFailed(f"the access token's '{name}' claim must be a number (seconds since "
                                       "1970, RFC 7519 NumericDate), not a string or other type")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise AuthenticationFailed("the access token's 'sub' claim must be a non-empty string")


def sign(claims: dict[str, Any], private_pem: str, *, kid: str, alg: str = "ES256") -> str:
    """Sign `claims` with a PEM private key (the embedded issuer's); kid goes in the header."""
    if alg not in ASYMMETRIC:
        raise ValueError("the embedded issuer signs with asymmetric algorithms only")
    key = jwk.construct(private_pem, algorithm=alg)
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, "typ": "JWT"})


def canonical_json(obj: Any) -> str:
    """Compact, sorted JSON (for RFC 7638 thumbprints)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
