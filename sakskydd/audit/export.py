"""Export of the trail for auditors (JSON Lines) and standalone verification of an export.

Format (one JSON object per line, UTF-8)::

    {"type": "header", "format": "sakskydd-audit-export/v1", "exported_at": …, "size": N,
     "head_hash": hex, "public_key": PEM, "key_fingerprint": hex}
    {"type": "checkpoint", "size": …, "merkle_root": hex, "head_hash": hex, "signed_at": …,
     "signature": hex, "key_fingerprint": hex}                        (0..n lines)
    {"type": "event", "seq": 1, "payload": "…", "entry_hash": hex, "mac": hex}   (N lines)
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice, repeat
from multiprocessing.pool import Pool
from operator import itemgetter
from typing import IO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from sakskydd.audit.chain import GENESIS_HASH, format_time
from sakskydd.audit.checkpoints import load_public_key, public_key_pem
from sakskydd.audit.models import AuditHead
from sakskydd.audit.verify import (
    BATCH,
    Checkpoint,
    Part,
    Row,
    Segment,
    VerifyResult,
    in_order,
    key_fingerprint,
    load_checkpoints,
    marked_sizes,
    stream_events,
    verify_batches,
    verify_parts,
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


_PLAIN_POSITION = 1 << 64  # TextIOWrapper.tell() below this is a byte offset with no decoder state
_EVENT_FIELDS = itemgetter("type", "seq", "payload", "entry_hash", "mac")
_scan_json = json.JSONDecoder().scan_once  # C: (value, end) of the JSON value at an index
EXPORT_CHUNK = 32 << 20  # bytes of events per chunk given to a worker process


def _read(path: str | os.PathLike[str]) -> tuple[ExportHeader, list[Checkpoint], int]:
    """The header, the checkpoints and where the events begin (a TextIOWrapper.tell() cookie)."""
    with open(path, encoding="utf-8") as handle:
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
            while True:
                events = handle.tell()
                line = handle.readline()
                if not line:
                    break
                data = json.loads(line)
                if data.get("type") != "checkpoint":
                    break
                checkpoints.append(Checkpoint.from_json(data))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ExportFormatError(f"malformed audit export: {exc}") from None
    return header, checkpoints, events


def _event_row(line: str) -> Row:
    data = json.loads(line)
    if not isinstance(data, dict) or data.get("type") != "event":
        raise ExportFormatError("checkpoints must come before the events")
    return data["seq"], data["payload"], bytes.fromhex(data["entry_hash"]), bytes.fromhex(data["mac"])


def _event_rows(lines: list[str]) -> list[Row]:
    """The rows of event lines, as _event_row gives them, parsed with map() over C functions.

    Calls the JSON decoder's C scanner directly: json.loads adds Python layers and two
    whitespace matches that cost a third of the time. Accepts only lines that json.loads
    reads the same way (the value from the first character to the final newline) and raises
    for anything else, without saying where: callers then go line by line (_rows_of).
    """
    parsed = list(map(_scan_json, lines, repeat(0)))
    if len(parsed) != len(lines):  # the scanner raises StopIteration for "no value here", ending map()
        raise ValueError("not JSON")
    records, ends = zip(*parsed, strict=True)
    if list(map(len, lines)) != list(map((1).__add__, ends)) or not all(
        map(str.endswith, lines, repeat("\n"))
    ):
        raise ValueError("not one JSON value per line")
    types, seqs, payloads, hashes, macs = zip(*map(_EVENT_FIELDS, records), strict=True)
    if types.count("event") != len(types):
        raise ExportFormatError("checkpoints must come before the events")
    return list(zip(seqs, payloads, map(bytes.fromhex, hashes), map(bytes.fromhex, macs), strict=True))


def _rows_of(lines: list[str]) -> Iterator[list[Row]]:
    """The rows of `lines` as one batch; at a malformed line, the rows before it and then the error."""
    try:
        rows = _event_rows(lines)
    except (ValueError, KeyError, TypeError, AttributeError):
        rows = []
        for line in lines:
            try:
                rows.append(_event_row(line))
            except Exception:
                if rows:
                    yield rows
                raise
    yield rows


def _event_batches(lines: Iterable[str]) -> Iterator[list[Row]]:
    """Batches of event rows. At a malformed line (or bytes that are not UTF-8) the good rows
    before it come first, then the error: a bad event before it is reported, as row by row."""
    lines = iter(lines)
    while True:
        batch: list[str] = []
        try:
            batch.extend(islice(lines, BATCH))  # list.extend keeps the lines read before an error
        except Exception:
            yield from _rows_of(batch)
            raise
        if not batch:
            return
        yield from _rows_of(batch)


def _lines_between(path: str | os.PathLike[str], begin: int, end: int) -> io.TextIOWrapper:
    """The lines in bytes begin..end (both just after a newline), read as text as _read does."""
    with open(path, "rb") as handle:
        handle.seek(begin)
        data = handle.read(end - begin)
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")


@dataclass(frozen=True)
class _ExportChunk:
    path: str
    begin: int
    end: int
    mac_key: bytes | None
    marks: tuple[int, ...]
    merkle_limit: int


def _verify_export_chunk(task: _ExportChunk) -> Part:
    """In a worker process: verify the event lines in bytes begin..end, the first one unlinked."""
    segment = Segment(task.mac_key, task.marks, task.merkle_limit, prev=None)
    try:
        for batch in _event_batches(_lines_between(task.path, task.begin, task.end)):
            if not segment.feed(batch):
                break
    except Exception as exc:  # the parent verifies this chunk again, and meets the error itself
        return Part(task, trouble=repr(exc))
    return Part.of(segment, task)


def _chunk_bounds(path: str | os.PathLike[str], begin: int, size: int) -> list[int]:
    """Byte offsets from `begin` to the end of the file, each just after a newline, about `size` apart."""
    bounds = [begin]
    end = os.path.getsize(path)
    with open(path, "rb") as handle:
        while bounds[-1] + size < end:
            handle.seek(bounds[-1] + size)
            handle.readline()  # to the end of the line the cut falls in
            position = handle.tell()
            if position >= end:
                break
            bounds.append(position)
    bounds.append(end)
    return bounds


def verify_export(
    path: str | os.PathLike[str],
    *,
    public_key: Ed25519PublicKey | None = None,
    mac_key: bytes | None = None,
    pool: Pool | None = None,
) -> tuple[VerifyResult, ExportHeader, Ed25519PublicKey | None]:
    """Verify an export standalone. Without `public_key` the key in the file is used (say so!).

    With a `pool` (verify.verification_pool()) a large file is verified in chunks by its
    workers. Returns (result, header, the public key used). Raises ExportFormatError for a
    malformed file (unless a bad event comes before the malformed line).
    """
    header, checkpoints, events = _read(path)
    if public_key is None and header.public_key_pem:
        public_key = load_public_key(header.public_key_pem)
    head = (header.size, header.head_hash)
    try:
        if pool is None or events >= _PLAIN_POSITION or os.path.getsize(path) - events < 2 * EXPORT_CHUNK:
            with open(path, encoding="utf-8") as handle:  # the lines as _read read those before
                handle.seek(events)
                result = verify_batches(_event_batches(handle), mac_key, checkpoints, public_key, head=head)
        else:
            result = _verify_export_in_chunks(path, events, mac_key, checkpoints, public_key, head, pool)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ExportFormatError(f"malformed audit export: {exc}") from None
    return result, header, public_key


def _verify_export_in_chunks(
    path: str | os.PathLike[str],
    events: int,
    mac_key: bytes | None,
    checkpoints: list[Checkpoint],
    public_key: Ed25519PublicKey | None,
    head: tuple[int, bytes],
    pool: Pool,
) -> VerifyResult:
    sizes = tuple(marked_sizes(checkpoints, public_key))
    merkle_limit = max(sizes, default=0)
    bounds = _chunk_bounds(path, events, EXPORT_CHUNK)
    # A chunk's seqs are not known before it is read: every worker gets every checkpoint size.
    tasks = (
        _ExportChunk(os.fspath(path), begin, end, mac_key, sizes, merkle_limit)
        for begin, end in zip(bounds, bounds[1:], strict=False)
    )

    def again(part: Part, count: int, prev: bytes) -> Part:
        task: _ExportChunk = part.task
        segment = Segment(mac_key, sizes, merkle_limit, start=count, prev=prev)
        for batch in _event_batches(_lines_between(task.path, task.begin, task.end)):
            if not segment.feed(batch):
                break
        return Part.of(segment, task)

    parts = in_order(pool, _verify_export_chunk, tasks)
    return verify_parts(parts, again, checkpoints, public_key, head=head, want_root=False)
