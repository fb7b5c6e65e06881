"""The embedded token issuer `coc up` runs: an ES256 key under <data_dir>/keys, local users with argon2id
password hashes (policies.authz.passwords), `POST /auth/token` (OAuth2 password grant, form-encoded) and
`GET /auth/jwks.json`.

Production deployments point COC_JWT_JWKS_URL at their own OIDC provider and the /auth/token route is disabled.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from api.auth.jwt import canonical_json, sign
from api.deps import CommitRoute, CurrentUser, SessionDep, SettingsDep
from core.actors import system_actor
from core.clock import utcnow
from core.db import commit_early
from core.errors import AuthenticationFailed, NotFound, ValidationFailed
from core.settings import Settings
from policies import sessions
from policies.authz import (
    PasswordChange,
    User,
    UserCreate,
    change_own_password,
    create_user,
    hash_password,
    needs_rehash,
    user_by_username,
    verify_password,
)
from policies.permissions import Role

__all__ = ["hash_password", "verify_password"]  # re-exported: the admin route, tests and benchmarks use them here

ACCESS_TOKEN_TTL_S = 15 * 60  # short-lived: deactivation is checked per request anyway, this limits token theft
KEY_FILE = "issuer-es256.pem"
ADMIN_PASSWORD_FILE = "admin-password"  # noqa: S105 - a file name, not a password

router = APIRouter(tags=["auth"], route_class=CommitRoute)


# --- helpers --------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    """base64url without padding (JOSE encoding)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret file readable by its owner only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


# Verified when the username is unknown: the same argon2id cost whether or not the user exists.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


# --- keys -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuerKeys:
    """The issuer's signing key (PEM) and its public JWK."""

    private_pem: str
    public_jwk: dict[str, Any]

    @property
    def kid(self) -> str:
        """The key id (RFC 7638 thumbprint)."""
        return self.public_jwk["kid"]

    def jwks(self) -> dict[str, Any]:
        """The public JWKS document."""
        return {"keys": [self.public_jwk]}


def _public_jwk(private: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    nums = private.public_key().public_numbers()
    core = {"crv": "P-256", "kty": "EC", "x": b64url(nums.x.to_bytes(32, "big")),
            "y": b64url(nums.y.to_bytes(32, "big"))}
    kid = b64url(hashlib.sha256(canonical_json(core).encode()).digest())  # RFC 7638 thumbprint
    return {**core, "kid": kid, "alg": "ES256", "use": "sig"}


_keys_lock = threading.Lock()


def load_or_create_keys(data_dir: Path) -> IssuerKeys:
    """Load <data_dir>/keys/issuer-es256.pem, creating it (0600) on first start."""
    path = Path(data_dir) / "keys" / KEY_FILE
    with _keys_lock:
        if not path.exists():
            private = ec.generate_private_key(ec.SECP256R1())
            pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
            _write_private(path, pem)
        pem_bytes = path.read_bytes()
    private = serialization.load_pem_private_key(pem_bytes, password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp256r1":
        raise ValidationFailed(f"{path} is not a P-256 private key: remove it to generate a new one")
    return IssuerKeys(private_pem=pem_bytes.decode(), public_jwk=_public_jwk(private))


def mint_token(settings: Settings, keys: IssuerKeys, user: User, *, ttl_s: int = ACCESS_TOKEN_TTL_S) -> str:
    """An access token for `user` from the embedded issuer (wall-clock times: token validity is real time)."""
    now = int(time.time())
    claims = {"iss": settings.jwt_issuer, "aud": settings.jwt_audience, "sub": user.subject, "iat": now,
              "nbf": now, "exp": now + ttl_s, "jti": secrets.token_urlsafe(12),
              "preferred_username": user.username}
    return sign(claims, keys.private_pem, kid=keys.kid, alg="ES256")


# --- users ----------------------------------------------------------------------------------------


def authenticate(session: Session, username: str, password: str) -> User:
    """The active local user with this username and password, or AuthenticationFailed (same answer for all)."""
    user = user_by_username(session, username)
    # Why the dummy hash: the same hashing cost whether or not the user exists (no username probing by timing).
    ok = verify_password(password, user.password_hash if user and user.password_hash else _DUMMY_HASH)
    if user is None or not ok or not user.password_hash or not user.active:
        raise AuthenticationFailed("wrong username or password, or the account is deactivated")
    if needs_rehash(user.password_hash):
        # An scrypt hash of an earlier version (or weaker argon2id parameters): replaced now that the password is
        # known, in the login's transaction (policies.authz.passwords).
        user.password_hash = hash_password(password)
        session.add(user)
        session.flush()
    return user


def ensure_bootstrap_admin(session: Session, data_dir: Path) -> str | None:
    """On first start create coordinator 'admin' with a generated password in <data_dir>/admin-password (0600).

    Returns the new password, or None when an admin already exists. The caller commits.
    """
    if user_by_username(session, "admin") is not None:
        return None
    password = secrets.token_urlsafe(18)
    from policies.agencies import CENTRE_AGENCY_ID

    # The centre's own coordinator: a member of the centre's agency (made by migration 0004).
    create_user(session, actor=system_actor("bootstrap"),
                data=UserCreate(username="admin", role=Role.COORDINATOR, agency=CENTRE_AGENCY_ID),
                password_hash=hash_password(password))
    _write_private(Path(data_dir) / ADMIN_PASSWORD_FILE, (password + "\n").encode())
    return password


# --- routes ---------------------------------------------------------------------------------------


class TokenResponse(BaseModel):
    """OAuth2 token response."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int
    # Renews the access token at POST /auth/refresh until 10 h after the login (rotated on each use).
    refresh_token: str | None = None
    refresh_expires_at: datetime | None = None


_TOKEN_FORM = {
    "requestBody": {
        "required": True,
        "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": ["username", "password"], "additionalProperties": False,
            "properties": {"grant_type": {"type": "string", "enum": ["password"]},
                           "username": {"type": "string", "minLength": 1, "maxLength": 64},
                           "password": {"type": "string", "minLength": 1, "maxLength": 256}},
        }}},
    },
    "x-coc-public": True,
}


@router.post("/auth/token", response_model=TokenResponse, openapi_extra=_TOKEN_FORM)
async def token(request: Request, session: SessionDep, settings: SettingsDep) -> TokenResponse:
    """Exchange a local username and password for a short-lived access token (rate-limited)."""
    if not settings.embedded:
        raise NotFound("local login is disabled: sign in with your organisation's identity provider")
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        raise ValidationFailed("send username and password as application/x-www-form-urlencoded")
    raw = await request.body()
    try:
        form = parse_qs(raw.decode("utf-8", errors="replace"), max_num_fields=10)
    except ValueError:
        raise ValidationFailed("the form has too many fields: send grant_type, username and password") from None
    username = (form.get("username") or [""])[0]
    password = (form.get("password") or [""])[0]
    grant = (form.get("grant_type") or ["password"])[0]
    if grant != "password":
        raise ValidationFailed("only grant_type=password is supported")
    if not username or not password:
        raise ValidationFailed("give both username and password")
    client = request.client.host if request.client else "unknown"
    request.app.state.login_limiter.hit(f"ip:{client}", f"user:{username.lower()[:64]}")
    # Password hashing is CPU-bound by design: keep it off the event loop.
    user = await run_in_threadpool(authenticate, session, username, password)
    access = mint_token(settings, request.app.state.issuer_keys, user)
    renewal = sessions.start_session(session, user_id=user.id)
    return TokenResponse(access_token=access, expires_in=ACCESS_TOKEN_TTL_S, refresh_token=renewal.token,
                         refresh_expires_at=renewal.expires_at)


class RefreshRequest(BaseModel):
    """A refresh token given at login (or by the previous renewal)."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    refresh_token: str = Field(min_length=1, max_length=128)


@router.post("/auth/refresh", response_model=TokenResponse, openapi_extra={"x-coc-public": True})
def refresh(body: RefreshRequest, request: Request, session: SessionDep, settings: SettingsDep) -> TokenResponse:
    """Exchange a refresh token for a new 15-minute access token and the next refresh token (the one sent is spent;
    sending it again ends the session). Refused after 10 h from login, after logout, for a deactivated account."""
    if not settings.embedded:
        raise NotFound("local login is disabled: sign in with your organisation's identity provider")
    renewal = sessions.rotate(session, token=body.refresh_token)
    user = session.get(User, renewal.user_id)
    if user is None or not user.active:
        sessions.revoke_family(session, renewal.family_id, utcnow())
        commit_early(session, "a deactivated account's session stays ended even though the request is refused")
        raise AuthenticationFailed("the account is deactivated: ask a coordinator")
    access = mint_token(settings, request.app.state.issuer_keys, user)
    return TokenResponse(access_token=access, expires_in=ACCESS_TOKEN_TTL_S, refresh_token=renewal.token,
                         refresh_expires_at=renewal.expires_at)


@router.post("/auth/logout", status_code=204, openapi_extra={"x-coc-public": True})
def logout(body: RefreshRequest, session: SessionDep) -> None:
    """End the session of this refresh token (every renewal of the login is refused from now on)."""
    sessions.end_session(session, token=body.refresh_token)


@router.post("/auth/password", status_code=204, openapi_extra={"x-coc-authenticated": True})
async def change_password(body: PasswordChange, request: Request, user: CurrentUser, session: SessionDep,
                          settings: SettingsDep) -> None:
    """Replace your own local password (the current one is checked; at least 12 characters). Every other login
    of yours ends. Until you do, the coordinator who created your account (and chose its first password) counts
    as the same person as you for two-person destruction and erasure."""
    if not settings.embedded:
        raise NotFound("local login is disabled: change your password at your organisation's identity provider")
    client = request.client.host if request.client else "unknown"
    request.app.state.login_limiter.hit(f"ip:{client}", f"user-id:{user.id}")  # guessing the current one
    await run_in_threadpool(change_own_password, session, actor=user, change=body)


@router.get("/auth/jwks.json", openapi_extra={"x-coc-public": True})
def jwks(request: Request) -> dict[str, list[dict[str, str]]]:
    """The embedded issuer's public keys (JWKS)."""
    keys: IssuerKeys | None = request.app.state.issuer_keys
    return keys.jwks() if keys is not None else {"keys": []}
