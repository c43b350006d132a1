"""Export of a range of the trail (an auditor's filtered selection) that verifies standalone.

A filtered selection of events cannot be chain-verified on its own: every link needs the one
before it. So a range export holds *every* event from `first_seq` to `last_seq`: those the
auditor selected (and may see) in full, all others **sealed**, as their leaf hash only. A
sealed line shows that an event exists and fits the chain, never what it says. The header
carries what the range builds on: the entry hash before it (`prev_hash`) and the Merkle
frontier of the events before it (the roots of the largest perfect subtrees of leaves
1..first_seq-1, RFC 6962), so that a signed checkpoint whose size falls in
first_seq-1..last_seq can be compared with the range exactly as with the whole log.

Format (one JSON object per line, UTF-8, keys sorted)::

    {"type": "header", "format": "sakskydd-audit-range/v1", "exported_at": …, "marking": …,
     "first_seq": F, "last_seq": L, "prev_hash": hex, "last_hash": hex,
     "frontier": [[hex root, width], …], "head_size": N, "head_hash": hex,
     "public_key": PEM | null, "key_fingerprint": hex | null, "selection": {…}}
    {"type": "checkpoint", …}                                  (every checkpoint, 0..n lines)
    {"type": "event", "seq": s, "payload": "…", "entry_hash": hex, "mac": hex}
    {"type": "sealed", "seq": s, "leaf": hex, "entry_hash": hex, "mac": hex}

What a successful verification proves: the range is one unbroken chain from `prev_hash`; every
full event's payload is what was hashed; and, when a validly signed checkpoint falls in the
range (its `anchor`), everything up to that checkpoint is what the signer saw, `prev_hash` and
the frontier included (a second preimage of SHA-256 would be needed otherwise). Without an
anchor the chain is whole but rests on the server's word for `prev_hash`: the verifier says so.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, case, select
from sqlalchemy.sql.elements import ColumnElement

from sakskydd.audit.chain import (
    CHAIN_LABEL,
    GENESIS_HASH,
    LEAF_PREFIX,
    MerkleAccumulator,
    entry_mac,
    format_time,
    payload_seq,
)
from sakskydd.audit.checkpoints import load_public_key, public_key_pem
from sakskydd.audit.models import AuditEvent
from sakskydd.audit.verify import (
    BATCH,
    Checkpoint,
    VerifyResult,
    check_signatures,
    event_batches,
    key_fingerprint,
)
from sakskydd.db import utcnow

__all__ = ["RANGE_FORMAT", "RangeHeader", "RangeResult", "verify_range_export", "write_range_export"]

RANGE_FORMAT = "sakskydd-audit-range/v1"


class RangeFormatError(ValueError):
    """The file is not a range export this version understands."""


@dataclass(frozen=True)
class RangeHeader:
    first_seq: int
    last_seq: int
    prev_hash: bytes
    last_hash: bytes
    frontier: tuple[tuple[bytes, int], ...]
    head_size: int
    head_hash: bytes
    public_key_pem: str | None
    exported_at: str
    marking: str = ""
    selection: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RangeResult:
    """A verification of a range: the chain result, the checkpoint it is anchored to (if any)
    and how many events were full and sealed."""

    result: VerifyResult
    header: RangeHeader
    anchor: int | None
    full: int
    sealed: int
    public_key: Ed25519PublicKey | None


# --- writing -------------------------------------------------------------------------------


def _frontier(connection: Connection, upto: int) -> list[tuple[bytes, int]]:
    """The Merkle frontier of leaves 1..upto, read from the stored payloads."""
    tree = MerkleAccumulator()
    for batch in event_batches(connection, 0, upto, text_payload=False):
        payloads = [row[1] if isinstance(row[1], bytes) else row[1].encode("utf-8") for row in batch]
        tree.extend([hashlib.sha256(LEAF_PREFIX + payload).digest() for payload in payloads])
    if tree.size != upto:
        raise ValueError("the log has a gap before the range")
    return tree.subtrees()


def _entry_hash_at(connection: Connection, seq: int) -> bytes:
    if seq == 0:
        return GENESIS_HASH
    value = connection.scalar(select(AuditEvent.entry_hash).where(AuditEvent.seq == seq))
    if value is None:
        raise ValueError(f"event {seq} is missing")
    return bytes(value)


def _range_rows(
    connection: Connection, first: int, last: int, selected: ColumnElement[bool]
) -> Iterator[tuple[int, str, bytes, bytes, bool]]:
    """(seq, payload, entry_hash, mac, selected) for first <= seq <= last, in keyset batches."""
    flag = case((selected, True), else_=False)
    after = first - 1
    while after < last:
        rows = connection.execute(
            select(AuditEvent.seq, AuditEvent.payload, AuditEvent.entry_hash, AuditEvent.mac, flag)
            .where(AuditEvent.seq > after, AuditEvent.seq <= last)
            .order_by(AuditEvent.seq)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for seq, payload, entry, mac, chosen in rows:
            yield int(seq), payload, bytes(entry), bytes(mac), bool(chosen)
        after = int(rows[-1][0])


def write_range_export(
    connection: Connection,
    handle: IO[str],
    *,
    first: int,
    last: int,
    selected: ColumnElement[bool],
    checkpoints: Iterable[Checkpoint],
    head: tuple[int, bytes],
    public_key: Ed25519PublicKey | None,
    marking: str,
    selection: dict[str, Any],
) -> tuple[int, int]:
    """Write the range first..last: events for which `selected` holds in full, the rest sealed.

    Returns (full, sealed). Reads in the connection's transaction; raises ValueError for a
    range outside the log.
    """
    if not 1 <= first <= last <= head[0]:
        raise ValueError("the range must lie within the log")
    header = {
        "type": "header",
        "format": RANGE_FORMAT,
        "exported_at": format_time(utcnow()),
        "marking": marking,
        "first_seq": first,
        "last_seq": last,
        "prev_hash": _entry_hash_at(connection, first - 1).hex(),
        "last_hash": _entry_hash_at(connection, last).hex(),
        "frontier": [[root.hex(), width] for root, width in _frontier(connection, first - 1)],
        "head_size": head[0],
        "head_hash": head[1].hex(),
        "public_key": public_key_pem(public_key) if public_key is not None else None,
        "key_fingerprint": key_fingerprint(public_key) if public_key is not None else None,
        "selection": selection,
    }
    dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode
    handle.write(dumps(header) + "\n")
    for checkpoint in checkpoints:
        handle.write(dumps(checkpoint.to_json()) + "\n")
    full = sealed = 0
    for seq, payload, entry, mac, chosen in _range_rows(connection, first, last, selected):
        if chosen:
            line = {"type": "event", "seq": seq, "payload": payload}
            full += 1
        else:
            leaf = hashlib.sha256(LEAF_PREFIX + payload.encode("utf-8")).digest()
            line = {"type": "sealed", "seq": seq, "leaf": leaf.hex()}
            sealed += 1
        line["entry_hash"] = entry.hex()
        line["mac"] = mac.hex()
        handle.write(dumps(line) + "\n")
    return full, sealed


# --- verifying -----------------------------------------------------------------------------


def _hex(data: dict[str, Any], key: str, size: int = 32) -> bytes:
    value = bytes.fromhex(str(data[key]))
    if len(value) != size:
        raise RangeFormatError(f"{key} must be {size} bytes")
    return value


def read_range_header(line: str) -> RangeHeader:
    try:
        data = json.loads(line)
        if not isinstance(data, dict) or data.get("type") != "header" or data.get("format") != RANGE_FORMAT:
            raise RangeFormatError("not a sakskydd range export (missing header)")
        frontier = tuple((bytes.fromhex(str(root)), int(width)) for root, width in data["frontier"])
        if not 1 <= int(data["first_seq"]) <= int(data["last_seq"]):
            raise RangeFormatError("the range must hold at least one event, from seq 1 on")
        return RangeHeader(
            first_seq=int(data["first_seq"]),
            last_seq=int(data["last_seq"]),
            prev_hash=_hex(data, "prev_hash"),
            last_hash=_hex(data, "last_hash"),
            frontier=frontier,
            head_size=int(data["head_size"]),
            head_hash=_hex(data, "head_hash"),
            public_key_pem=data.get("public_key"),
            exported_at=str(data.get("exported_at")),
            marking=str(data.get("marking") or ""),
            selection=dict(data.get("selection") or {}),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise RangeFormatError(f"malformed range export header: {exc}") from None


def is_range_export(path: str | os.PathLike[str]) -> bool:
    """True when the file's first line is a range export's header."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        first = handle.readline(1 << 20)
    try:
        data = json.loads(first)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("format") == RANGE_FORMAT


class _RangeJudge:
    """Walks the range, keeping the chain, the Merkle tree and the first failure."""

    def __init__(self, header: RangeHeader, trusted: list[Checkpoint], mac_key: bytes | None) -> None:
        self.header = header
        self.tree = MerkleAccumulator()
        for root, width in header.frontier:
            self.tree.append_subtree(root, width)
        if self.tree.size != header.first_seq - 1:
            raise RangeFormatError("the frontier does not cover the events before the range")
        self.count = header.first_seq - 1
        self.prev = header.prev_hash
        self.mac_key = mac_key
        self.by_size: dict[int, list[Checkpoint]] = {}
        for checkpoint in trusted:
            self.by_size.setdefault(checkpoint.size, []).append(checkpoint)
        self.anchor: int | None = None
        self.failure: tuple[int, str, str] | None = None
        self.full = self.sealed = 0
        self._compare()  # a checkpoint at first_seq - 1 anchors prev_hash and the frontier

    def _compare(self) -> None:
        checkpoints = self.by_size.get(self.count, ())
        if not checkpoints:
            return
        root = self.tree.root()
        for checkpoint in checkpoints:
            if checkpoint.head_hash != self.prev or checkpoint.merkle_root != root:
                self.failure = (
                    max(self.count, 1),
                    "checkpoint_mismatch",
                    f"kontrollpunkt {self.count} stämmer inte med exporten (ändrad eller ersatt historik)",
                )
                return
        self.anchor = self.count

    def feed(self, data: dict[str, Any]) -> bool:
        seq = data.get("seq")
        expected = self.count + 1
        if type(seq) is not int or seq != expected:
            reason = f"händelse {expected} saknas eller står i fel ordning (nästa rad har {seq!r})"
            self.failure = (expected, "gap", reason)
            return False
        if data["type"] == "event":
            payload = data["payload"]
            if not isinstance(payload, str):
                raise RangeFormatError(f"event {seq}: the payload must be text")
            leaf = hashlib.sha256(LEAF_PREFIX + payload.encode("utf-8")).digest()
            if payload_seq(payload) != seq:
                self.failure = (seq, "payload_seq", f"händelse {seq}: löpnumret i innehållet stämmer inte")
                return False
            self.full += 1
        elif data["type"] == "sealed":
            leaf = _hex(data, "leaf")
            self.sealed += 1
        else:
            raise RangeFormatError(f"line for event {seq}: unknown type {data['type']!r}")
        digest = hashlib.sha256(CHAIN_LABEL + self.prev + leaf).digest()
        if digest != _hex(data, "entry_hash"):
            self.failure = (
                seq,
                "hash_mismatch",
                f"händelse {seq}: kedjehashen stämmer inte (innehåll eller hash ändrat)",
            )
            return False
        if self.mac_key is not None and entry_mac(self.mac_key, digest) != _hex(data, "mac"):
            self.failure = (seq, "mac_mismatch", f"händelse {seq}: MAC stämmer inte")
            return False
        self.tree.append(leaf)
        self.count, self.prev = seq, digest
        self._compare()
        return self.failure is None

    def conclude(self) -> tuple[int, str, str] | None:
        if self.failure is not None:
            return self.failure
        header = self.header
        if self.count != header.last_seq:
            return (
                self.count + 1,
                "truncated",
                f"exporten slutar vid {self.count} men anger {header.last_seq}",
            )
        if self.prev != header.last_hash:
            return (self.count, "head_mismatch", f"hashen för händelse {self.count} stämmer inte med huvudet")
        return None


def _lines(handle: IO[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(handle, start=2):
        try:
            data = json.loads(line)
        except ValueError:
            raise RangeFormatError(f"line {number} is not JSON") from None
        if not isinstance(data, dict) or "type" not in data:
            raise RangeFormatError(f"line {number} is not an export line")
        yield data


def verify_range_export(
    path: str | os.PathLike[str],
    *,
    public_key: Ed25519PublicKey | None = None,
    mac_key: bytes | None = None,
) -> RangeResult:
    """Verify a range export standalone. Without `public_key` the key in the file is used (the
    caller must say so). Raises RangeFormatError for a malformed file."""
    with open(path, encoding="utf-8") as handle:
        header = read_range_header(handle.readline())
        if public_key is None and header.public_key_pem:
            try:
                public_key = load_public_key(header.public_key_pem)
            except ValueError as exc:
                raise RangeFormatError(f"the public key in the file cannot be read: {exc}") from None
        checkpoints: list[Checkpoint] = []
        judge: _RangeJudge | None = None
        try:
            for data in _lines(handle):
                if data["type"] == "checkpoint":
                    if judge is not None:
                        raise RangeFormatError("checkpoints must come before the events")
                    checkpoints.append(Checkpoint.from_json(data))
                    continue
                if judge is None:
                    judge = _start(header, checkpoints, public_key, mac_key)
                if not judge.feed(data):
                    break
        except (KeyError, TypeError) as exc:
            raise RangeFormatError(f"malformed range export: {exc}") from None
        if judge is None:
            judge = _start(header, checkpoints, public_key, mac_key)
    _, bad_checkpoint = check_signatures(checkpoints, public_key)
    failure = judge.conclude()
    if bad_checkpoint is not None and (failure is None or bad_checkpoint[0] <= failure[0]):
        failure = bad_checkpoint
    if failure is None:
        result = VerifyResult(ok=True, count=judge.count, head_hash=judge.prev, checkpoints=len(checkpoints))
    else:
        result = VerifyResult(
            ok=False,
            count=judge.count,
            first_bad_seq=failure[0],
            code=failure[1],
            reason=failure[2],
            head_hash=judge.prev,
            checkpoints=len(checkpoints),
        )
    return RangeResult(
        result, header, judge.anchor if failure is None else None, judge.full, judge.sealed, public_key
    )


def _start(
    header: RangeHeader,
    checkpoints: list[Checkpoint],
    public_key: Ed25519PublicKey | None,
    mac_key: bytes | None,
) -> _RangeJudge:
    trusted, _ = check_signatures(checkpoints, public_key)
    return _RangeJudge(header, trusted, mac_key)
