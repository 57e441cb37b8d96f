"""Packet-loss benchmark for WebRTC calls (``python -m evals.netloss --out DIR``) and its aiortc caller."""
