"""The embedded stack's two signals: StackError (one line for the person) and Shutdown (Ctrl-C / SIGTERM)."""

from __future__ import annotations

from core.errors import DomainError


class StackError(DomainError):
    """`coc up` cannot start or keep running; `detail` is the one line shown to the person."""

    code = "stack-error"


class Shutdown(BaseException):  # noqa: N818 - a control-flow signal, not an error
    """Raised from the SIGINT/SIGTERM handler to unwind start-up or the wait loop."""
