"""Withdrawal hooks and the pathway wake: how a consent change reaches the packages policies may not import.

Why hooks: policies must not import evidence, yet withdrawing photography consent must flag that case's
photographs as restricted and cancel open offers. The composition root (evidence.bootstrap.wire) registers
the evidence package's callbacks with `register_withdrawal_hook`; a withdrawal in a process that never wired
them is refused (policies.consent.service.record_decision). A hook runs inside the caller's transaction, so
the flag and the withdrawal commit together. The checkpoint never relies on that flag: it denies photograph
handoffs from the consent state itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from core import outbox
from core.actors import Actor
from policies.handoffs import ConsentScope

WithdrawalHook = Callable[[Session, str, ConsentScope, Actor, datetime], None]
_withdrawal_hooks: list[WithdrawalHook] = []


def register_withdrawal_hook(hook: WithdrawalHook) -> WithdrawalHook:
    """Register `hook(session, case_id, scope, actor, now)`, run in the withdrawing transaction."""
    if hook not in _withdrawal_hooks:
        _withdrawal_hooks.append(hook)
    return hook


def unregister_withdrawal_hook(hook: WithdrawalHook) -> None:
    """Remove a hook (tests)."""
    if hook in _withdrawal_hooks:
        _withdrawal_hooks.remove(hook)


def withdrawal_hooks() -> tuple[WithdrawalHook, ...]:
    """The hooks registered now, in registration order."""
    return tuple(_withdrawal_hooks)


def wake_pathway(session: Session, case_id: str, reason: str, now: datetime | None = None) -> None:
    """Queue a wake-up of the case's pathway flow in this transaction (the single call site into core.outbox).

    `reason` is for readers of this code only: the outbox row carries the opaque case id and nothing else,
    and the woken flow re-reads the database to see what changed.
    """
    outbox.enqueue(session, case_id=case_id, kind=outbox.OutboxKind.WAKE, now=now)
