"""Signed checkpoints: Ed25519 over {size, merkle_root, head_hash, signed_at}.

The signing key lives in a PEM file apart from the database (SAKSKYDD_SIGNING_KEY_FILE,
mode 0600). Checkpoints are made by `sakskydd audit checkpoint`, run by a scheduler
(docs/audit.md): a checkpoint re-verifies the chain up to its size, which is not cheap
enough to do inside record().
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sakskydd.audit import Event, lock_head, record
from sakskydd.audit.chain import format_time
from sakskydd.audit.models import AuditCheckpoint, AuditHead
from sakskydd.audit.verify import (
    Checkpoint,
    VerifyResult,
    checkpoint_document,
    key_fingerprint,
    verify_database,
)
from sakskydd.db import utcnow

if TYPE_CHECKING:
    from multiprocessing.pool import Pool

    from sakskydd.crypto.keyring import KeyRing

__all__ = [
    "AuditChainBroken",
    "SigningKeyError",
    "append_checkpoint_file",
    "checkpoint_due",
    "CHECKPOINT_FILE_NAME",
    "generate_signing_key",
    "load_public_key",
    "load_signing_key",
    "write_public_key",
    "make_checkpoint",
    "public_key_pem",
    "read_checkpoint_file",
]


CHECKPOINT_FILE_NAME = "audit-checkpoints.jsonl"  # in the instance folder, outside the database


class SigningKeyError(RuntimeError):
    """The checkpoint signing key is missing, unreadable or too widely readable."""


class AuditChainBroken(RuntimeError):
    """The chain does not verify, so no checkpoint is signed."""

    def __init__(self, result: VerifyResult) -> None:
        super().__init__(f"audit chain broken at seq {result.first_bad_seq}: {result.code}")
        self.result = result


def generate_signing_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Create a new Ed25519 key as PKCS#8 PEM with mode 0600; refuses to overwrite (FileExistsError)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def write_public_key(path: str | os.PathLike[str], key: Ed25519PrivateKey | Ed25519PublicKey) -> bool:
    """Write the public key (PEM, mode 0644) unless the file holds it already; True if written.

    Refuses (SigningKeyError) to replace a different key: the file is what the auditors'
    workspace trusts, and changing it is a deliberate act for the operator, not a side effect.
    """
    path = Path(path)
    pem = public_key_pem(key)
    if path.exists():
        if load_public_key(path.read_bytes()).public_bytes_raw() == load_public_key(pem).public_bytes_raw():
            return False
        raise SigningKeyError(f"{path} holds another public key; remove it deliberately to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(pem)
    return True


def load_signing_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Read the signing key; refuses a file that group or others can access. Raises SigningKeyError."""
    path = Path(path)
    try:
        info = path.stat()
        data = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"signing key {path} cannot be read: {exc.strerror}") from None
    if info.st_mode & 0o077:
        raise SigningKeyError(
            f"signing key {path} is accessible by group or others (mode {stat.S_IMODE(info.st_mode):04o})"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError:
        raise SigningKeyError(f"signing key {path} is not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"signing key {path} is not an Ed25519 key")
    return key


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (or from a private key's PEM); raises SigningKeyError."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except ValueError:
            raise SigningKeyError("not a PEM public key") from None
        key = private.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("not an Ed25519 public key")
    return key


def checkpoint_due(session: Session, every: int) -> bool:
    """True when at least `every` events were appended since the newest checkpoint."""
    head = session.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0
    last = session.scalar(select(func.max(AuditCheckpoint.seq))) or 0
    return head - last >= every


def make_checkpoint(
    session: Session,
    signing_key: Ed25519PrivateKey,
    *,
    keyring: KeyRing | None = None,
    pool: Pool | None = None,
) -> Checkpoint:
    """Verify the chain up to the head, sign a checkpoint of it, store it and audit it.

    The checkpoint covers the events up to its size; the `audit.checkpoint` event that
    records it comes after. Raises AuditChainBroken (nothing is signed) or ValueError
    when there is nothing to checkpoint. Flushes; the caller commits. With a `pool`
    (verify.verification_pool()) a long chain is verified by its worker processes; the head stays
    locked here meanwhile, and the workers only read events committed before it.
    """
    if keyring is None:
        from sakskydd.crypto.fields import current_keyring

        keyring = current_keyring()
    size, head_hash = lock_head(session)
    if size == 0:
        raise ValueError("the audit trail is empty")
    existing = session.get(AuditCheckpoint, size)
    if existing is not None:
        return _to_checkpoint(existing)
    public_key = signing_key.public_key()
    result = verify_database(
        session,
        mac_key=keyring.audit_mac_key,
        public_key=public_key,
        upto=size,
        want_root=True,
        pool=pool,
    )
    if not result.ok or result.merkle_root is None or result.head_hash != head_hash:
        raise AuditChainBroken(result)
    signed_at = utcnow()
    document = checkpoint_document(size, result.merkle_root, head_hash, format_time(signed_at))
    row = AuditCheckpoint(
        seq=size,
        merkle_root=result.merkle_root,
        head_hash=head_hash,
        signature=signing_key.sign(document),
        signed_at=signed_at,
        key_fingerprint=key_fingerprint(public_key),
    )
    session.add(row)
    session.flush()
    record(
        Event.AUDIT_CHECKPOINT,
        target_type="audit_checkpoint",
        target_id=str(size),
        detail={"size": size, "merkle_root": result.merkle_root.hex(), "head_hash": head_hash.hex()},
        session=session,
        keyring=keyring,
    )
    return _to_checkpoint(row)


def _to_checkpoint(row: AuditCheckpoint) -> Checkpoint:
    return Checkpoint(
        size=row.seq,
        merkle_root=bytes(row.merkle_root),
        head_hash=bytes(row.head_hash),
        signed_at=format_time(row.signed_at),
        signature=bytes(row.signature),
        key_fingerprint=row.key_fingerprint,
    )


def append_checkpoint_file(path: str | os.PathLike[str], checkpoint: Checkpoint) -> None:
    """Append a checkpoint as one JSON line to a file outside the database."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(checkpoint.to_json(), sort_keys=True) + "\n")


def read_checkpoint_file(path: str | os.PathLike[str]) -> list[Checkpoint]:
    """Checkpoints from a JSON Lines file (lines of other types are skipped)."""
    checkpoints = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                data = json.loads(line)
                if data.get("type") == "checkpoint":
                    checkpoints.append(Checkpoint.from_json(data))
    return checkpoints
