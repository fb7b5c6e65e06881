"""Policies: permissions, consent, the checkpoint, jurisdiction rule packs and clocks."""
