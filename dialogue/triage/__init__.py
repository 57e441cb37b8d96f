"""Triage: slot extraction, 4-level decision with an auditable reason, department routing, the flow."""
