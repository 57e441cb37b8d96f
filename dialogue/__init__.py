"""Dialogue: flow engine, the three flows, safety rules, LLM plug-in, barge-in policy."""
