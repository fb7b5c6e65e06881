"""The start-up wait on the API's /health, and its rule for a ledger that is not intact.

A /health whose only failing part is the ledger ("ledger-not-intact") starts the stack anyway, loudly:
auditors need it running to investigate. Any other failing part keeps `coc up` waiting until its timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from api.stack.errors import StackError

READY_TIMEOUT_S = 180.0  # cold starts on a loaded 2-core CI machine take far longer than on a laptop


def wait_ready(url: str, *, timeout: float, check_children: Callable[[], None], say: Callable[[str], None],
               logs: Path) -> bool:
    """Poll /health at `url` until every part is ready (True) or only the ledger is not intact (False, after a
    loud warning); raise StackError when a child exits (`check_children`) or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    with httpx.Client(timeout=5.0) as client:
        while time.monotonic() < deadline:
            check_children()
            try:
                resp = client.get(url)
                body = resp.json() if resp.headers.get("content-type", "").endswith("json") else {}
                if resp.status_code == 200 and health_ready(body):
                    return True
                broken = ledger_not_intact(body)
                if broken is not None:  # every service is up; the ledger is not intact: start, loudly
                    say(ledger_warning(broken.removeprefix("LEDGER NOT INTACT: ")))
                    return False
                last = f"HTTP {resp.status_code}: {not_ready_parts(body) or body}"
            except (httpx.HTTPError, ValueError) as exc:
                last = type(exc).__name__
            time.sleep(0.3)
    raise StackError(f"the stack was not ready after {timeout:.0f} s ({last}); logs in {logs}")


def health_ready(body: object) -> bool:
    """True when a /health body says every part is ready.

    Accepts {"status": "ready"|"ok", "parts"|"checks": {part: {"ok": bool} | bool | "ok"}}: the overall status
    must be good and, when parts are listed, every one of them too.
    """
    if not isinstance(body, dict):
        return False
    if str(body.get("status", "")).lower() not in ("ok", "ready", "pass"):
        return False
    return not not_ready_parts(body)


def ledger_not_intact(body: object) -> str | None:
    """The ledger part's detail when a /health body says every service is up but the ledger is not intact."""
    if not isinstance(body, dict) or body.get("status") != "ledger-not-intact" or not_ready_parts(body) != ["ledger"]:
        return None
    part = body.get("parts", {}).get("ledger")
    return str(part.get("detail") or "the last ledger verification failed") if isinstance(part, dict) else ""


def ledger_warning(detail: str) -> str:
    """The loud start-up warning for a ledger that does not verify."""
    bar = "!" * 78
    return (f"{bar}\n!! WARNING: the audit LEDGER IS NOT INTACT: {detail}\n!! The stack runs so that auditors "
            "can investigate; do not rely on its reports (exports are refused unless explicitly marked).\n"
            f"!! Run `coc audit verify`, see `coc alerts`, and contact the auditor.\n{bar}")


def not_ready_parts(body: object) -> list[str]:
    """Names of the parts a /health body reports as not ready."""
    if not isinstance(body, dict):
        return []
    checks = body.get("parts") or body.get("checks") or body.get("components") or {}
    bad = []
    for name, value in checks.items() if isinstance(checks, dict) else []:
        ok = value
        if isinstance(value, dict):
            ok = value.get("ok", value.get("ready", str(value.get("status", "")).lower() in ("ok", "ready", "pass")))
        elif isinstance(value, str):
            ok = value.lower() in ("ok", "ready", "pass")
        if not ok:
            bad.append(name)
    return bad
