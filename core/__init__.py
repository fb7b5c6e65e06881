"""Shared kernel of Chain of Care: settings, database, clock, ids, errors, the audit ledger."""
