"""Chronic-care follow-up calls (hypertension, type-2 diabetes): scripts as data, value reading, danger
criteria, visit classification across calls, results in the records. Entry: :class:`FollowupDialogue`."""
