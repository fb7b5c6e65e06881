"""Who performs an action. Services take an explicit actor because flows have no request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    """A staff member or a system process acting on a case; never a survivor's identity."""

    id: str  # staff user id (e.g. 'U...'/'examiner1') or 'system:<component>'
    role: str  # a policies.permissions.Role value, or 'system'
    break_glass_reason: str | None = None

    @property
    def is_system(self) -> bool:
        """True for flows and scheduled jobs."""
        return self.role == "system"

    def ledger_ref(self) -> dict[str, str]:
        """The actor as recorded in a ledger entry (staff ids are not survivor data)."""
        return {"id": self.id, "role": self.role}


def system_actor(component: str) -> Actor:
    """The actor for a flow or scheduled job, e.g. system_actor('pathway')."""
    return Actor(id=f"system:{component}", role="system")
