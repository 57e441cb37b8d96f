"""Signed checkpoints ("anchors") of the audit chain, exported outside the database, and their check.

An anchor is (sequence number, that entry's chain MAC, time), signed with SM2 (SM3withSM2) by a key
kept outside the database (:mod:`backends.signing`). ``medvoice audit anchor`` appends one per call
to a JSON-lines file that belongs somewhere the database's writers cannot reach (another host, WORM
storage, a printed report). The keyed chain alone stops anyone without the audit key; anchors also
catch whoever holds it (or a stolen key file) rewriting the chain consistently, and a tail cut off
together with its head row: the entry an anchor names must still carry the MAC that was signed.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from backends.embedded.audit import ANCHOR, GENESIS_HASH, REWRITTEN, TRUNCATED, Finding
from backends.embedded.schema import audit_log
from backends.signing import Sm2KeyPair, Sm2PublicKey

__all__ = ["Anchor", "append_anchor", "check_anchors", "make_anchor", "read_anchors"]

ANCHOR_FORMAT = "medvoice-audit-anchor/v1"


@dataclass(frozen=True)
class Anchor:
    """One signed checkpoint.

    Parameters:
        seq: The audit entry anchored (0: the empty log).
        mac: That entry's chain MAC (hex).
        at: When the anchor was made (UTC, ISO 8601).
        signer: Fingerprint of the SM2 public key that signed it.
        signature: SM3withSM2 signature (r || s, hex) of :meth:`message`.
    """

    seq: int
    mac: str
    at: str
    signer: str
    signature: str

    def message(self) -> bytes:
        return f"{ANCHOR_FORMAT}|{self.seq}|{self.mac}|{self.at}|{self.signer}".encode()

    def to_json(self) -> str:
        return json.dumps({"format": ANCHOR_FORMAT, **asdict(self)}, separators=(",", ":"))


def make_anchor(conn: sa.Connection, pair: Sm2KeyPair) -> Anchor:
    """Sign the chain's current last entry (read in the caller's transaction)."""
    last = conn.execute(
        sa.select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).first()
    seq, mac = (last.seq, last.hash) if last is not None else (0, GENESIS_HASH)
    unsigned = Anchor(seq, mac, datetime.now(UTC).isoformat(timespec="seconds"), pair.public.fingerprint, "")
    return Anchor(seq, mac, unsigned.at, unsigned.signer, pair.sign(unsigned.message()))


def append_anchor(path: Path, anchor: Anchor) -> None:
    """Append ``anchor`` as one line to ``path`` (created if missing) and flush it to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(anchor.to_json() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_anchors(path: Path) -> tuple[list[Anchor], list[Finding]]:
    """The anchors in ``path``, and a finding for each line that is not one.

    Raises:
        ValueError: ``path`` does not exist.
    """
    if not path.is_file():
        raise ValueError(f"anchors file {path} does not exist; `medvoice audit anchor` writes it")
    anchors: list[Anchor] = []
    findings: list[Finding] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            if doc.pop("format") != ANCHOR_FORMAT:
                raise ValueError("unknown format")
            anchors.append(Anchor(int(doc["seq"]), str(doc["mac"]), str(doc["at"]), str(doc["signer"]), str(doc["signature"])))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            findings.append(Finding(ANCHOR, None, f"line {number} of {path} is not an anchor ({error!r})"))
    return anchors, findings


def check_anchors(
    conn: sa.Connection, anchors: list[Anchor], public_key: Sm2PublicKey, last_seq: int
) -> list[Finding]:
    """Check each anchor's signature, then that the entry it names still carries the signed MAC.

    A disagreeing anchor means the chain was rewritten between the last agreeing anchor and it;
    an anchor beyond the log's end means its tail was cut off.
    """
    findings: list[Finding] = []
    agreed = 0
    for anchor in sorted(anchors, key=lambda a: a.seq):
        if anchor.signer != public_key.fingerprint or not public_key.verify(anchor.signature, anchor.message()):
            findings.append(
                Finding(
                    ANCHOR,
                    None,
                    f"the anchor of entry {anchor.seq} made {anchor.at} does not carry a valid SM2 signature of key "
                    f"{public_key.fingerprint} (anchors file edited, or signed by another key): ignored",
                )
            )
            continue
        if anchor.seq == 0:
            continue
        stored = conn.execute(sa.select(audit_log.c.hash).where(audit_log.c.seq == anchor.seq)).scalar_one_or_none()
        if anchor.seq > last_seq:
            findings.append(
                Finding(
                    TRUNCATED,
                    last_seq + 1,
                    f"the anchor made {anchor.at} covers entry {anchor.seq} but the log ends at {last_seq}: entries "
                    f"{last_seq + 1}..{anchor.seq} were deleted from the end",
                    anchor.seq if anchor.seq > last_seq + 1 else None,
                )
            )
        elif stored is None:
            continue  # a deleted entry inside the log: the chain walk names it
        elif stored != anchor.mac:
            findings.append(
                Finding(
                    REWRITTEN,
                    agreed + 1,
                    f"entry {anchor.seq} no longer carries the MAC signed in the anchor made {anchor.at}: entries "
                    f"{agreed + 1}..{anchor.seq} were rewritten after that anchor (consistently, so with the audit "
                    "key)",
                    anchor.seq,
                )
            )
        else:
            agreed = anchor.seq
    return findings
