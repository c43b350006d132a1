"""Verification of the audit chain: on the live database or standalone on an export.

verify_events() is pure and streams: for each event it recomputes the leaf and entry
hash, checks the MAC when the key is given, the payload's own seq, and the Merkle root
and head hash at every checkpoint size, after checking each checkpoint's Ed25519
signature. It stops at the first bad seq.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from sakskydd.audit.chain import CHAIN_LABEL, GENESIS_HASH, LEAF_PREFIX, MerkleAccumulator, canonical_json
from sakskydd.audit.models import AuditCheckpoint, AuditHead

__all__ = [
    "Checkpoint",
    "VerifyResult",
    "key_fingerprint",
    "load_checkpoints",
    "verify_database",
    "verify_events",
]

STREAM_BATCH = 20_000


def key_fingerprint(public_key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, as hex."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the first `size` events have this Merkle root and chain head."""

    size: int
    merkle_root: bytes
    head_hash: bytes
    signed_at: str
    signature: bytes
    key_fingerprint: str

    def document(self) -> bytes:
        return checkpoint_document(self.size, self.merkle_root, self.head_hash, self.signed_at)

    def to_json(self) -> dict[str, object]:
        return {
            "type": "checkpoint",
            "size": self.size,
            "merkle_root": self.merkle_root.hex(),
            "head_hash": self.head_hash.hex(),
            "signed_at": self.signed_at,
            "signature": self.signature.hex(),
            "key_fingerprint": self.key_fingerprint,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Checkpoint:
        return cls(
            size=int(data["size"]),  # type: ignore[call-overload]
            merkle_root=bytes.fromhex(str(data["merkle_root"])),
            head_hash=bytes.fromhex(str(data["head_hash"])),
            signed_at=str(data["signed_at"]),
            signature=bytes.fromhex(str(data["signature"])),
            key_fingerprint=str(data["key_fingerprint"]),
        )


def checkpoint_document(size: int, merkle_root: bytes, head_hash: bytes, signed_at: str) -> bytes:
    """The exact bytes a checkpoint signature covers (canonical JSON)."""
    return canonical_json(
        {"size": size, "merkle_root": merkle_root.hex(), "head_hash": head_hash.hex(), "signed_at": signed_at}
    ).encode("utf-8")


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a verification. `reason` is Swedish (shown to people); `code` is for programs."""

    ok: bool
    count: int
    first_bad_seq: int | None = None
    reason: str | None = None
    code: str | None = None
    head_hash: bytes = GENESIS_HASH
    merkle_root: bytes | None = None
    checkpoints: int = 0


def _check_signatures(
    checkpoints: Sequence[Checkpoint], public_key: Ed25519PublicKey | None
) -> tuple[list[Checkpoint], tuple[int, str, str] | None]:
    """The checkpoints whose signatures hold, and (size, code, reason) of the first that does not."""
    if not checkpoints:
        return [], None
    if public_key is None:
        return [], (
            min(c.size for c in checkpoints),
            "no_public_key",
            "kontrollpunkter finns men ingen publik nyckel",
        )
    fingerprint = key_fingerprint(public_key)
    valid: list[Checkpoint] = []
    first_bad: tuple[int, str, str] | None = None
    for checkpoint in sorted(checkpoints, key=lambda c: c.size):
        problem: tuple[int, str, str] | None = None
        if checkpoint.size < 1:
            problem = (
                checkpoint.size,
                "checkpoint_invalid",
                f"kontrollpunkt med ogiltig storlek {checkpoint.size}",
            )
        elif checkpoint.key_fingerprint != fingerprint:
            problem = (
                checkpoint.size,
                "checkpoint_key",
                f"kontrollpunkt {checkpoint.size} är signerad med en annan nyckel",
            )
        else:
            try:
                public_key.verify(checkpoint.signature, checkpoint.document())
            except InvalidSignature:
                problem = (
                    checkpoint.size,
                    "checkpoint_signature",
                    f"kontrollpunkt {checkpoint.size} har en ogiltig signatur",
                )
        if problem is None:
            valid.append(checkpoint)
        elif first_bad is None:
            first_bad = problem
    return valid, first_bad


def _hmac_states(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC-SHA-256 inner and outer states after the padded key (RFC 2104), for copying."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return (
        hashlib.sha256(bytes(b ^ 0x36 for b in key)),
        hashlib.sha256(bytes(b ^ 0x5C for b in key)),
    )


def verify_events(
    rows: Iterable[tuple[int, str | bytes, bytes, bytes | None]],
    mac_key: bytes | None,
    checkpoints: Sequence[Checkpoint],
    public_key: Ed25519PublicKey | None,
    *,
    head: tuple[int, bytes] | None = None,
    want_root: bool = False,
) -> VerifyResult:
    """Verify (seq, payload, entry_hash, mac) rows in seq order; see the module docstring.

    `head` is the (seq, entry_hash) the database claims as its newest event. With
    `want_root` the result carries the Merkle root of every event read.
    """
    # Only checkpoints with a valid signature are compared with the log.
    trusted, bad_checkpoint = _check_signatures(checkpoints, public_key)
    by_size: dict[int, list[Checkpoint]] = {}
    for checkpoint in trusted:
        by_size.setdefault(checkpoint.size, []).append(checkpoint)
    sizes = sorted(by_size)
    max_size = sizes[-1] if sizes else 0
    size_iter = iter(sizes)
    next_size = next(size_iter, 0)

    # Hash objects are copied from pre-initialised states: with OpenSSL 3 a fresh hashlib
    # object costs more than hashing a few hundred bytes (docs/audit.md, "Performance").
    leaf_base = hashlib.sha256(LEAF_PREFIX)
    entry_base = hashlib.sha256(CHAIN_LABEL)
    mac_inner, mac_outer = _hmac_states(mac_key) if mac_key is not None else (None, None)
    accumulator = MerkleAccumulator()
    append_leaf = accumulator.append
    merkle_limit = float("inf") if want_root else max_size
    prev = GENESIS_HASH
    count = 0
    failure: tuple[int, str, str] | None = None

    for seq, payload, stored_hash, stored_mac in rows:
        expected = count + 1
        if seq != expected:
            if seq > expected:
                failure = (expected, "gap", f"händelse {expected} saknas (nästa är {seq})")
            else:
                failure = (
                    seq,
                    "order",
                    f"händelse {seq} förekommer igen efter {count} (ordningen är ändrad)",
                )
            break
        if isinstance(payload, str):
            text_payload = payload
            payload = payload.encode("utf-8")
        else:
            text_payload = payload.decode("utf-8", "replace")
        hasher = leaf_base.copy()
        hasher.update(payload)
        leaf = hasher.digest()
        hasher = entry_base.copy()
        hasher.update(prev + leaf)
        digest = hasher.digest()
        if digest != stored_hash:
            failure = (
                seq,
                "hash_mismatch",
                f"händelse {seq}: kedjehashen stämmer inte (innehåll eller hash ändrat)",
            )
            break
        if mac_inner is not None:
            hasher = mac_inner.copy()
            hasher.update(digest)
            outer = mac_outer.copy()  # type: ignore[union-attr]
            outer.update(hasher.digest())
            if outer.digest() != stored_mac:
                failure = (seq, "mac_mismatch", f"händelse {seq}: MAC stämmer inte")
                break
        position = text_payload.rfind('"seq":')
        if position < 0 or not text_payload.startswith(f"{seq},", position + 6):
            failure = (seq, "payload_seq", f"händelse {seq}: löpnumret i innehållet stämmer inte")
            break
        if seq <= merkle_limit:
            append_leaf(leaf)
        prev = digest
        count = seq
        if seq == next_size:
            root = accumulator.root()
            for checkpoint in by_size[seq]:
                if checkpoint.head_hash != digest or checkpoint.merkle_root != root:
                    failure = (
                        seq,
                        "checkpoint_mismatch",
                        f"kontrollpunkt {seq} stämmer inte med loggen (ändrad eller ersatt historik)",
                    )
                    break
            if failure:
                break
            next_size = next(size_iter, 0)

    if failure is None and max_size > count:
        failure = (
            count + 1,
            "truncated",
            f"loggen slutar vid {count} men en kontrollpunkt omfattar {max_size} "
            "(avkortad logg eller återställd från en äldre kopia)",
        )
    if failure is None and head is not None:
        head_seq, head_hash = head
        if head_seq > count:
            failure = (count + 1, "truncated", f"loggen slutar vid {count} men huvudet pekar på {head_seq}")
        elif head_seq < count:
            failure = (head_seq + 1, "head_mismatch", f"händelser efter huvudet {head_seq} finns i loggen")
        elif head_hash != prev:
            failure = (count, "head_mismatch", f"huvudets hash stämmer inte med händelse {count}")
    if bad_checkpoint is not None and (failure is None or bad_checkpoint[0] <= failure[0]):
        failure = bad_checkpoint
    if failure is not None:
        return VerifyResult(
            ok=False,
            count=count,
            first_bad_seq=failure[0],
            code=failure[1],
            reason=failure[2],
            head_hash=prev,
            checkpoints=len(checkpoints),
        )
    return VerifyResult(
        ok=True,
        count=count,
        head_hash=prev,
        merkle_root=accumulator.root() if want_root else None,
        checkpoints=len(checkpoints),
    )


def load_checkpoints(session: Session) -> list[Checkpoint]:
    from sakskydd.audit.chain import format_time

    return [
        Checkpoint(
            size=row.seq,
            merkle_root=bytes(row.merkle_root),
            head_hash=bytes(row.head_hash),
            signed_at=format_time(row.signed_at),
            signature=bytes(row.signature),
            key_fingerprint=row.key_fingerprint,
        )
        for row in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq))
    ]


def stream_events(session: Session, upto: int) -> Iterable[tuple[int, str, bytes, bytes]]:
    """(seq, payload, entry_hash, mac) of events 1..upto in order, fetched in large batches."""
    result = session.execute(
        text("SELECT seq, payload, entry_hash, mac FROM audit_event WHERE seq <= :upto ORDER BY seq")
        .bindparams(upto=upto)
        .execution_options(yield_per=STREAM_BATCH)
    )
    for partition in result.partitions():
        yield from partition  # type: ignore[misc]


def verify_database(
    session: Session,
    *,
    mac_key: bytes | None,
    public_key: Ed25519PublicKey | None,
    extra_checkpoints: Sequence[Checkpoint] = (),
    upto: int | None = None,
    want_root: bool = False,
) -> VerifyResult:
    """Verify the live chain up to the head (or `upto`), with stored and external checkpoints."""
    # Checkpoints first, then the head: a checkpoint never covers more than the head read after it.
    checkpoints = load_checkpoints(session) + list(extra_checkpoints)
    row = session.execute(select(AuditHead.seq, AuditHead.entry_hash).where(AuditHead.id == 1)).first()
    head = (int(row[0]), bytes(row[1])) if row is not None else (0, GENESIS_HASH)
    head_check: tuple[int, bytes] | None = head
    if upto is not None:
        if upto > head[0]:
            raise ValueError("cannot verify beyond the head")
        checkpoints = [c for c in checkpoints if c.size <= upto]
        head_check = None
    limit = head[0] if upto is None else upto
    return verify_events(
        stream_events(session, limit), mac_key, checkpoints, public_key, head=head_check, want_root=want_root
    )
