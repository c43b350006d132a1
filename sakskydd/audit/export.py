"""Export of the trail for auditors (JSON Lines) and standalone verification of an export.

Format (one JSON object per line, UTF-8)::

    {"type": "header", "format": "sakskydd-audit-export/v1", "exported_at": …, "size": N,
     "head_hash": hex, "public_key": PEM, "key_fingerprint": hex}
    {"type": "checkpoint", "size": …, "merkle_root": hex, "head_hash": hex, "signed_at": …,
     "signature": hex, "key_fingerprint": hex}                        (0..n lines)
    {"type": "event", "seq": 1, "payload": "…", "entry_hash": hex, "mac": hex}   (N lines)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from sakskydd.audit.chain import GENESIS_HASH, format_time
from sakskydd.audit.checkpoints import load_public_key, public_key_pem
from sakskydd.audit.models import AuditHead
from sakskydd.audit.verify import (
    Checkpoint,
    VerifyResult,
    key_fingerprint,
    load_checkpoints,
    stream_events,
    verify_events,
)
from sakskydd.db import utcnow

__all__ = ["ExportFormatError", "ExportHeader", "verify_export", "write_export"]

FORMAT = "sakskydd-audit-export/v1"


class ExportFormatError(ValueError):
    """The file is not an audit export this version understands."""


@dataclass(frozen=True)
class ExportHeader:
    size: int
    head_hash: bytes
    public_key_pem: str | None
    exported_at: str


def write_export(session: Session, handle: IO[str], public_key: Ed25519PublicKey | None) -> ExportHeader:
    """Write header, checkpoints and every event up to the head; returns the header written."""
    checkpoints = load_checkpoints(session)
    row = session.execute(select(AuditHead.seq, AuditHead.entry_hash).where(AuditHead.id == 1)).first()
    size, head_hash = (int(row[0]), bytes(row[1])) if row is not None else (0, GENESIS_HASH)
    header = ExportHeader(
        size=size,
        head_hash=head_hash,
        public_key_pem=public_key_pem(public_key) if public_key is not None else None,
        exported_at=format_time(utcnow()),
    )
    handle.write(
        json.dumps(
            {
                "type": "header",
                "format": FORMAT,
                "exported_at": header.exported_at,
                "size": size,
                "head_hash": head_hash.hex(),
                "public_key": header.public_key_pem,
                "key_fingerprint": key_fingerprint(public_key) if public_key is not None else None,
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        + "\n"
    )
    for checkpoint in checkpoints:
        handle.write(json.dumps(checkpoint.to_json(), sort_keys=True) + "\n")
    dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode
    for seq, payload, entry, mac in stream_events(session, size):
        handle.write(
            dumps(
                {"type": "event", "seq": seq, "payload": payload, "entry_hash": entry.hex(), "mac": mac.hex()}
            )
            + "\n"
        )
    return header


def _read(
    path: str | os.PathLike[str],
) -> tuple[ExportHeader, list[Checkpoint], Iterator[tuple[int, str, bytes, bytes]]]:
    handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed by the event generator
    try:
        first = json.loads(handle.readline() or "null")
        if not isinstance(first, dict) or first.get("type") != "header" or first.get("format") != FORMAT:
            raise ExportFormatError("not a sakskydd audit export (missing header)")
        header = ExportHeader(
            size=int(first["size"]),
            head_hash=bytes.fromhex(first["head_hash"]),
            public_key_pem=first.get("public_key"),
            exported_at=str(first.get("exported_at")),
        )
        checkpoints: list[Checkpoint] = []
        pending: dict[str, object] | None = None
        for line in handle:
            data = json.loads(line)
            if data.get("type") != "checkpoint":
                pending = data
                break
            checkpoints.append(Checkpoint.from_json(data))
    except (ValueError, KeyError, TypeError) as exc:
        handle.close()
        raise ExportFormatError(f"malformed audit export: {exc}") from None

    def events() -> Iterator[tuple[int, str, bytes, bytes]]:
        loads = json.loads
        fromhex = bytes.fromhex
        with handle:
            data = pending
            lines = iter(handle)
            while data is not None:
                if data.get("type") != "event":
                    raise ExportFormatError("checkpoints must come before the events")
                yield data["seq"], data["payload"], fromhex(data["entry_hash"]), fromhex(data["mac"])
                line = next(lines, None)
                data = loads(line) if line is not None else None

    return header, checkpoints, events()


def verify_export(
    path: str | os.PathLike[str],
    *,
    public_key: Ed25519PublicKey | None = None,
    mac_key: bytes | None = None,
) -> tuple[VerifyResult, ExportHeader, Ed25519PublicKey | None]:
    """Verify an export standalone. Without `public_key` the key in the file is used (say so!).

    Returns (result, header, the public key used). Raises ExportFormatError for a malformed file.
    """
    header, checkpoints, events = _read(path)
    if public_key is None and header.public_key_pem:
        public_key = load_public_key(header.public_key_pem)
    try:
        result = verify_events(events, mac_key, checkpoints, public_key, head=(header.size, header.head_hash))
    except (ValueError, KeyError, TypeError) as exc:
        raise ExportFormatError(f"malformed audit export: {exc}") from None
    return result, header, public_key
