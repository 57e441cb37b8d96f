"""Reliability evaluations of issue 22: API fuzzing (``fuzz``), crash consistency under SIGKILL
(``crash``), tamper detection of the audit chain (``tamper``), a soak of concurrent calls
(``soak``) and WebRTC through ``tc netem`` on a veth pair (``netem``).

``python -m evals.reliability --out DIR [--quick]`` runs every part's ``run(out_dir, quick)`` and
writes ``results.json`` (flat names) and PNG plots.
"""

__all__: list[str] = []
