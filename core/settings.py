"""One Settings object (prefix COC_). Embedded mode fills secrets from the data directory;
production mode has no secret defaults and refuses to start without them."""

from __future__ import annotations

import base64
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError

SECRETS_FILE = "secrets.json"

# Settings that must be given explicitly outside embedded mode (no defaults for secrets).
PRODUCTION_REQUIRED = (
    "database_url",
    "s3_endpoint",
    "s3_access_key",
    "s3_secret_key",
    "prefect_api_url",
    "jwt_issuer",
    "jwt_jwks_url",
    "identity_key",
)


class Settings(BaseSettings):
    """Every knob of Chain of Care; environment variables COC_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="COC_", extra="ignore", validate_default=True)

    mode: Literal["embedded", "production"] = "embedded"
    data_dir: Path = Path(".coc")
    # Embedded/test only: a file holding a clock offset in seconds shared by every process (core.clock.FileClock),
    # so an end-to-end run lives through years of a kit; refused in production mode.
    clock_file: Path | None = None

    database_url: str | None = None
    s3_endpoint: str | None = None  # host:port, no scheme (minio SDK style)
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    s3_bucket: str = "coc-evidence"
    # "auto": over plain HTTP, send object data without the SDK's per-request SHA-256 payload hash only if the
    # store was seen to accept a wrong one (it does not check it, so computing it protects nothing);
    # "sign": always let the SDK sign payloads. Over HTTPS the SDK's own behaviour applies either way.
    s3_payload_hash: Literal["auto", "sign"] = "auto"
    # Server-side encryption of evidence at rest: "sse-s3" asks the store for it on every put (x-amz-server-side-
    # encryption: AES256) and refuses a store that fails evidence.storage's encryption check; "off" only for a
    # store that cannot, on disks encrypted beneath it.
    s3_sse: Literal["sse-s3", "off"] = "sse-s3"
    prefect_api_url: str | None = None

    jwt_issuer: str | None = None
    jwt_audience: str = "chain-of-care"
    jwt_jwks_url: str | None = None
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["ES256", "RS256"])
    jwt_leeway_s: int = 30

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    prefect_port: int = 4200
    s3_port: int = 8333

    identity_key: SecretStr | None = None  # Fernet key (urlsafe base64, 32 bytes): the centre key wrapping case keys
    # Retired centre keys (comma-separated Fernet keys): still unwrap case keys and read legacy values until
    # `coc admin rotate-key` has rewrapped every case key under identity_key (core.crypto).
    identity_keys_retired: SecretStr | None = None
    upload_max_bytes: int = 8 * 1024**3
    body_max_bytes: int = 1024 * 1024
    default_retention_days: int = 365 * 20  # may only extend the jurisdiction pack's retention, never shorten it
    default_jurisdiction: str = "default"
    outbox_drain_after_commit: bool = True  # wake pathway flows right after an API commit (else: scheduled drain)
    login_rate_per_min: int = 10
    # Pathway reconciler (flows/reconcile.py, rules in core/reconcile.py): a pathway run Scheduled, Pending or
    # Running (Prefect 3 keeps no heartbeat on the run) for longer than these many seconds is dead and replaced
    # by one fresh run; undelivered outbox rows older than pathway_stale_row_s are the reconciler's too; after
    # pathway_max_restarts dead runs in a row it leaves the case alone (logged) instead of looping.
    pathway_stale_scheduled_s: float = Field(default=300.0, gt=0)
    pathway_stale_pending_s: float = Field(default=120.0, gt=0)
    pathway_stale_running_s: float = Field(default=300.0, gt=0)
    pathway_stale_row_s: float = Field(default=60.0, ge=0)
    pathway_max_restarts: int = Field(default=5, ge=1)
    reconcile_every_s: float = Field(default=45.0, gt=0)  # how often the flow runner reconciles
    lookup_rate_per_min: int = 10
    # Funder reports (evidence.reports): counts from 1 to funder_min_cell - 1 are hidden, with complements
    funder_min_cell: int = Field(default=5, ge=2)
    # The survivor's status page (api/web): failures in a row that lock a card, the page's public address
    # (printed on the card and in its QR code) and the centre's contact shown on the page and the card.
    lookup_max_failures: int = Field(default=5, ge=1)
    status_page_url: str = "http://127.0.0.1:8000/status"
    centre_contact: str = "Call the centre: 555-0100 (24 hours)"
    # The flow runner (`python -m flows.serve`): it asks Prefect for runs to start every runner_poll_s seconds
    # and runs at most runner_limit at once; runner_start "forkserver" starts flow runs as forks of a preloaded
    # process, "spawn" with Prefect's own fresh interpreter (any other value: spawn, with a warning);
    # runner_quiet_polls makes its frequent polls reads (flows/prefect_runner.py; both patches apply only to the
    # pinned Prefect). Its outbox backstop loop runs every outbox_loop_s seconds and drains only when a row is
    # at least outbox_loop_min_age_s old (younger ones are the API's after-commit drain's).
    runner_poll_s: float = Field(default=0.2, gt=0)
    runner_limit: int = Field(default=20, ge=1)
    runner_start: str = "forkserver"
    runner_quiet_polls: bool = True
    outbox_loop_s: float = Field(default=5.0, gt=0)
    outbox_loop_min_age_s: float = Field(default=2.0, ge=0)

    @field_validator("data_dir")
    @classmethod
    def _abs_data_dir(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @field_validator("runner_start")
    @classmethod
    def _start_method(cls, v: str) -> str:
        return v.strip().lower() or "forkserver"

    @field_validator("upload_max_bytes", "body_max_bytes")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("must be a positive number of bytes")
        return v

    @field_validator("identity_key", "identity_keys_retired")
    @classmethod
    def _fernet_key(cls, v: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if v is None or (info.field_name == "identity_keys_retired" and not v.get_secret_value().strip()):
            return None  # no retired keys
        for part in v.get_secret_value().replace(",", " ").split() or [""]:
            try:
                raw = base64.urlsafe_b64decode(part.encode())
            except Exception:  # noqa: BLE001 - any decoding problem means the same thing
                raw = b""
            if len(raw) != 32:
                raise ValueError("must be a urlsafe-base64 Fernet key of 32 bytes (python -c "
                                 "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')")
        return v

    # -- derived -----------------------------------------------------------------------
    @property
    def embedded(self) -> bool:
        """True for the single-machine stack that `coc up` runs."""
        return self.mode == "embedded"

    def secret(self, name: str) -> str:
        """Return a secret setting's plain value, or raise ConfigError naming it."""
        value = getattr(self, name)
        if value is None:
            raise ConfigError(f"COC_{name.upper()} is not set")
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)

    def require(self, *names: str) -> None:
        """Raise ConfigError naming the first of `names` that has no value."""
        for name in names:
            if getattr(self, name) in (None, ""):
                raise ConfigError(f"COC_{name.upper()} is not set: it is required in {self.mode} mode")


def _embedded_secrets(data_dir: Path) -> dict[str, str]:
    """Read (or create on first start) the generated secrets kept in the data directory.

    Several processes may start on a fresh data dir at once (the test workers of a clean clone, an operator's
    `coc` command beside `coc up`): each writes its candidate to a file of its own and links it into place,
    which fails if another got there first; the loser reads the winner's, so every process agrees on one set.
    """
    path = data_dir / SECRETS_FILE
    if path.exists():
        return json.loads(path.read_text())
    from cryptography.fernet import Fernet

    values = {
        "s3_access_key": "coc" + secrets.token_hex(8),
        "s3_secret_key": secrets.token_urlsafe(32),
        "identity_key": Fernet.generate_key().decode(),
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f".{SECRETS_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # secrets: owner-only
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(values, fh)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # atomic, and never replaces a file another process linked first
        except FileExistsError:
            return json.loads(path.read_text())
        except OSError:  # a file system without hard links: rename, unless another process was first
            if path.exists():
                return json.loads(path.read_text())
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return values


def load_settings(**overrides: object) -> Settings:
    """Build Settings from the environment (+ overrides); one ConfigError line names a bad setting."""
    try:
        s = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        name = "COC_" + str(err["loc"][0]).upper() if err.get("loc") else "a COC_ setting"
        raise ConfigError(f"{name} is invalid: {err['msg']}") from None
    if s.embedded:
        gen = _embedded_secrets(s.data_dir)
        fill: dict[str, object] = {}
        for key in ("s3_access_key", "s3_secret_key", "identity_key"):
            if getattr(s, key) is None:
                fill[key] = SecretStr(gen[key])
        if s.database_url is None:
            fill["database_url"] = f"sqlite:///{s.data_dir / 'coc.db'}"
        if s.s3_endpoint is None:
            fill["s3_endpoint"] = f"127.0.0.1:{s.s3_port}"
        if s.prefect_api_url is None:
            fill["prefect_api_url"] = f"http://127.0.0.1:{s.prefect_port}/api"
        if s.jwt_issuer is None:
            fill["jwt_issuer"] = f"http://{s.api_host}:{s.api_port}"
        if s.jwt_jwks_url is None:
            fill["jwt_jwks_url"] = f"http://{s.api_host}:{s.api_port}/auth/jwks.json"
        s = s.model_copy(update=fill)
    else:
        s.require(*PRODUCTION_REQUIRED)
        if s.clock_file is not None:
            raise ConfigError("COC_CLOCK_FILE shifts every clock of the stack: it is for tests and embedded "
                              "demonstrations only, never in production mode")
    return s


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, loaded once on first use (never at import)."""
    return load_settings()


def reset_settings() -> None:
    """Forget cached settings (tests, or after the environment changed)."""
    get_settings.cache_clear()
