"""Verification of the audit chain: on the live database or standalone on an export.

For each event, in seq order: the seq is the next one, the recomputed leaf and entry hash
equal the stored hash, the MAC (when the key is given) is HMAC-SHA-256 of it, and the
payload's own seq is the row's; at every size covered by a checkpoint whose Ed25519
signature holds, the Merkle root and head hash equal the checkpoint's. The result names
the first bad seq: the earliest problem, as one pass in seq order would meet it.

Speed (docs/audit.md, "Performance"): about five SHA-256 computations per event are the
floor, so the work around them is kept small.

* Rows are read in batches of plain tuples, by keyset queries on the driver's own cursor
  (no ORM or Row objects); SQLite hands the payload over as its stored UTF-8 bytes.
* A batch is checked a column at a time with map() over hashlib and bytes methods, so the
  loop runs in C (Segment._feed_fast). That path can only answer "every row is good";
  anything else sends the batch through the row-by-row loop (Segment._feed_slow), which
  finds and words the first failure. The fast path accepts exactly what the slow one does.
* The Merkle tree is built a perfect subtree at a time (MerkleAccumulator.extend).
* The garbage collector is paused while verifying: the rows make no reference cycles, and
  its passes over many short-lived tuples cost about a tenth of the time.
* With a verification_pool(), the seq range is cut into chunks verified by worker
  processes (forked, or from a forkserver in a threaded process). A worker checks
  everything inside its chunk but takes the chunk's first row on trust for its seq and
  entry hash; the parent links the chunks in order (the first row must follow the previous
  chunk's last), compares the checkpoints with the Merkle subtrees the workers return, and
  reports the first failure in seq order. A chunk that does not link, or whose worker
  raised, is verified again in the parent from the state where the chunk before it ended,
  so every failure is found and worded as in one pass.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import logging
import multiprocessing
import multiprocessing.util
import os
import threading
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice, repeat
from multiprocessing.pool import Pool
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Dialect, create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from sakskydd.audit.chain import (
    CHAIN_LABEL,
    GENESIS_HASH,
    LEAF_PREFIX,
    MerkleAccumulator,
    canonical_json,
    entry_hash,
)
from sakskydd.audit.models import AuditCheckpoint, AuditHead

__all__ = [
    "Checkpoint",
    "VerifyResult",
    "event_batches",
    "key_fingerprint",
    "load_checkpoints",
    "verification_pool",
    "verify_batches",
    "verify_database",
    "verify_events",
]

log = logging.getLogger(__name__)

BATCH = 2048  # rows per batch: enough for map() to pay off, few enough to stay in the CPU caches
CHUNK = 1 << 13  # events per chunk given to a worker process
PARALLEL_MIN = 4 * CHUNK  # fewer events are verified in this process (workers would hardly help)

Row = tuple[int, str | bytes, bytes, bytes | None]  # (seq, payload, entry_hash, mac)
Failure = tuple[int, str, str]  # (first bad seq, code, Swedish reason)
Mark = tuple[int, bytes, list[tuple[bytes, int]]]  # (size, its entry hash, the segment's Merkle subtrees)


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


def check_signatures(
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


def _hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """The padded HMAC-SHA-256 keys (RFC 2104): mac = SHA-256(opad ‖ SHA-256(ipad ‖ message))."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


_sha256 = hashlib.sha256
_HASH = type(hashlib.sha256())
_LEAF_STATE = hashlib.sha256(LEAF_PREFIX)
_CHAIN_STATE = hashlib.sha256(CHAIN_LABEL)
_discard = deque(maxlen=0).extend  # runs an iterator to its end, keeping nothing
_SEQ_KEY = '"seq":'
_SEQ_KEY_BYTES = _SEQ_KEY.encode()


def _digests(state: Any, *columns: Sequence[bytes]) -> list[bytes]:
    """[SHA-256(what `state` has read ‖ columns[0][i] ‖ columns[1][i] …) for each i], looped in C.

    Copying a prepared state (a prefix, or an HMAC key block already compressed) and feeding
    it with update() is cheaper than building each input with bytes concatenation.
    """
    hashers = list(map(_HASH.copy, repeat(state, len(columns[0]))))
    for column in columns:
        _discard(map(_HASH.update, hashers, column))
    return list(map(_HASH.digest, hashers))


NO_LIMIT = 1 << 62  # a Merkle limit beyond any seq


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (verification allocates many tuples but no cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _gap(expected: int, seq: int) -> Failure:
    return (expected, "gap", f"händelse {expected} saknas (nästa är {seq})")


class Segment:
    """Verifies consecutive events after seq `start`, whose entry hash is `prev`, in batches.

    (Internal to the audit package: verify_events and verify_database are the interface.)

    The first failure is kept in `failure`; `count` and `prev` are the last good seq and its
    entry hash. Signed checkpoints are not compared here: at each size in `marks` the
    segment records (size, entry hash, Merkle subtrees of its own leaves) in `recorded`, and
    _Judge compares them, so that a segment can be verified without the leaves before it.

    With `prev=None` the segment is a chunk verified apart (in a worker): its first row's seq
    is taken as given and its stored entry hash as right, and `first` keeps (seq, leaf,
    stored entry hash) for the caller to link the chunk to the one before (link_parts).
    """

    def __init__(
        self,
        mac_key: bytes | None,
        marks: Iterable[int],
        merkle_limit: int,
        *,
        start: int = 0,
        prev: bytes | None = GENESIS_HASH,
    ) -> None:
        self.count = start
        self.prev = prev
        self.first: tuple[int, bytes, bytes] | None = None
        self.failure: Failure | None = None
        self.recorded: list[Mark] = []
        self.merkle = MerkleAccumulator(start)  # the leaves after `start`, up to `merkle_limit`
        self._all_marks = sorted(set(marks))
        self._marks = [size for size in self._all_marks if start < size <= merkle_limit]
        self._next_mark = 0  # index into _marks
        self._limit = merkle_limit
        self._pads = _hmac_pads(mac_key) if mac_key is not None else None
        self._mac_states = tuple(map(_sha256, self._pads)) if self._pads is not None else None

    def feed(self, rows: Sequence[Row]) -> bool:
        """Check the next rows in order; False once a failure has been found."""
        if self.failure is None and rows and self.prev is None:
            self._begin_at(rows[0][0])
            self._feed_slow(rows[:1])
            rows = rows[1:]
        if self.failure is None and rows and not self._feed_fast(rows):
            self._feed_slow(rows)
        return self.failure is None

    def _begin_at(self, seq: int) -> None:
        """Start an unlinked segment just before its first row's seq."""
        if type(seq) is not int or seq < 1:
            raise ValueError("a chunk cannot begin at this row")
        self.count = seq - 1
        self.merkle = MerkleAccumulator(seq - 1)
        self._marks = [size for size in self._all_marks if seq <= size <= self._limit]

    def _feed_fast(self, rows: Sequence[Row]) -> bool:
        """True when every row is good (and the state has moved on); False means "use the slow path"."""
        try:
            seqs, payloads, hashes, macs = zip(*rows, strict=True)
        except ValueError:
            return False
        count = self.count
        end = count + len(seqs)
        if seqs != tuple(range(count + 1, end + 1)) or set(map(type, seqs)) != {int}:
            return False
        kinds = set(map(type, payloads))
        if kinds == {bytes}:
            data: Sequence[bytes] = payloads
        elif kinds == {str}:
            try:
                data = list(map(str.encode, payloads))
            except UnicodeEncodeError:
                return False
        else:
            return False
        if set(map(type, hashes)) != {bytes}:
            return False
        leaves = _digests(_LEAF_STATE, data)
        # Row i's entry hash is computed from row i-1's *stored* hash: the same as the computed
        # one while every row passes, and the slow path takes over at the first that does not.
        if tuple(_digests(_CHAIN_STATE, (self.prev, *hashes[:-1]), leaves)) != hashes:
            return False
        if self._mac_states is not None:
            inner_state, outer_state = self._mac_states
            if tuple(_digests(outer_state, _digests(inner_state, hashes))) != macs:
                return False
        # The payload's own seq: its last '"seq":' (see chain.payload_seq) is followed by "<seq>,".
        positions = list(map(bytes.rfind, data, repeat(_SEQ_KEY_BYTES)))
        if -1 in positions:
            return False
        expected = map(b"%d,".__mod__, seqs)
        if not all(map(bytes.startswith, data, expected, map(len(_SEQ_KEY_BYTES).__add__, positions))):
            return False

        # Every row is good: add the leaves to the Merkle tree, recording the subtrees at each mark.
        merkle, marks, index = self.merkle, self._marks, self._next_mark
        done = 0  # leaves of this batch already in the tree
        while index < len(marks) and marks[index] <= end:
            taken = marks[index] - count
            merkle.extend(leaves[done:taken])
            done = taken
            self.recorded.append((marks[index], hashes[taken - 1], merkle.subtrees()))
            index += 1
        self._next_mark = index
        wanted = min(end, self._limit) - count
        if wanted > done:
            merkle.extend(leaves[done:wanted])
        self.count, self.prev = end, hashes[-1]
        return True

    def _feed_slow(self, rows: Sequence[Row]) -> None:
        """Row by row: the reference implementation, which also words the failure."""
        inner_pad, outer_pad = self._pads if self._pads is not None else (b"", b"")
        check_mac = self._pads is not None
        marks, index = self._marks, self._next_mark
        next_mark = marks[index] if index < len(marks) else 0
        count, prev = self.count, self.prev
        failure: Failure | None = None
        for seq, payload, stored_hash, stored_mac in rows:
            expected = count + 1
            if seq != expected:
                if seq > expected:
                    failure = _gap(expected, seq)
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
            leaf = _sha256(LEAF_PREFIX + payload).digest()
            if prev is None:  # the first row of an unlinked segment: _link checks its entry hash
                digest = stored_hash
                self.first = (seq, leaf, stored_hash)
            else:
                digest = _sha256(CHAIN_LABEL + prev + leaf).digest()
            if digest != stored_hash:
                failure = (
                    seq,
                    "hash_mismatch",
                    f"händelse {seq}: kedjehashen stämmer inte (innehåll eller hash ändrat)",
                )
                break
            if check_mac and _sha256(outer_pad + _sha256(inner_pad + digest).digest()).digest() != stored_mac:
                failure = (seq, "mac_mismatch", f"händelse {seq}: MAC stämmer inte")
                break
            position = text_payload.rfind(_SEQ_KEY)
            if position < 0 or not text_payload.startswith(f"{seq},", position + len(_SEQ_KEY)):
                failure = (seq, "payload_seq", f"händelse {seq}: löpnumret i innehållet stämmer inte")
                break
            if seq <= self._limit:
                self.merkle.append(leaf)
            prev, count = digest, seq
            if seq == next_mark:
                self.recorded.append((seq, digest, self.merkle.subtrees()))
                index += 1
                next_mark = marks[index] if index < len(marks) else 0
        self.count, self.prev, self._next_mark = count, prev, index
        self.failure = failure


class _Judge:
    """Compares what segments recorded with the trusted (validly signed) checkpoints."""

    def __init__(self, trusted: Sequence[Checkpoint]) -> None:
        self.by_size: dict[int, list[Checkpoint]] = {}
        for checkpoint in trusted:
            self.by_size.setdefault(checkpoint.size, []).append(checkpoint)
        self.max_size = max(self.by_size, default=0)

    def first_mismatch(self, recorded: Iterable[Mark], before: MerkleAccumulator) -> tuple[int, bytes] | None:
        """(size, entry hash) of the first checkpoint that differs from the log, if any.

        `before` holds the Merkle tree of the leaves before the segment that recorded them.
        """
        for size, head_hash, subtrees in recorded:
            tree = before.copy()
            for root, width in subtrees:
                tree.append_subtree(root, width)
            merkle_root = tree.root()
            for checkpoint in self.by_size.get(size, ()):
                if checkpoint.head_hash != head_hash or checkpoint.merkle_root != merkle_root:
                    return size, head_hash
        return None


def _mismatch(size: int) -> Failure:
    return (
        size,
        "checkpoint_mismatch",
        f"kontrollpunkt {size} stämmer inte med loggen (ändrad eller ersatt historik)",
    )


def _batched(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    """Lists of up to `size` rows. If the rows raise, the rows read before are yielded first,
    so that a bad row is only reported after the good ones before it have been verified."""
    iterator = iter(rows)
    while True:
        batch: list[Row] = []
        try:
            batch.extend(islice(iterator, size))  # list.extend keeps what it got before an error
        except Exception:
            if batch:
                yield batch
            raise
        if not batch:
            return
        yield batch


def verify_events(
    rows: Iterable[Row],
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
    return verify_batches(
        _batched(rows, BATCH), mac_key, checkpoints, public_key, head=head, want_root=want_root
    )


def verify_batches(
    batches: Iterable[Sequence[Row]],
    mac_key: bytes | None,
    checkpoints: Sequence[Checkpoint],
    public_key: Ed25519PublicKey | None,
    *,
    head: tuple[int, bytes] | None = None,
    want_root: bool = False,
) -> VerifyResult:
    """verify_events() for rows already in lists (a few thousand each is fastest)."""
    # Only checkpoints with a valid signature are compared with the log.
    trusted, bad_checkpoint = check_signatures(checkpoints, public_key)
    judge = _Judge(trusted)
    segment = Segment(mac_key, judge.by_size, NO_LIMIT if want_root else judge.max_size)
    nothing_before = MerkleAccumulator()
    failure: Failure | None = None
    with _gc_paused():
        checked = 0  # entries of segment.recorded already compared
        for batch in batches:
            ok = segment.feed(batch)
            mismatch = judge.first_mismatch(segment.recorded[checked:], nothing_before)
            checked = len(segment.recorded)
            if mismatch is not None:  # it comes before any failure of the rows: those stop the marks
                failure = _mismatch(mismatch[0])
                count, prev = mismatch
                break
            if not ok:
                break
    if failure is None:
        failure, count, prev = segment.failure, segment.count, segment.prev or GENESIS_HASH
    root = segment.merkle.root() if want_root else None
    return _conclude(failure, count, prev, judge.max_size, head, bad_checkpoint, len(checkpoints), root)


def _conclude(
    failure: Failure | None,
    count: int,
    prev: bytes,
    max_size: int,
    head: tuple[int, bytes] | None,
    bad_checkpoint: Failure | None,
    checkpoints: int,
    merkle_root: bytes | None,
) -> VerifyResult:
    """The result once the rows are read: adds the checks against the end of the log."""
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
            checkpoints=checkpoints,
        )
    return VerifyResult(
        ok=True, count=count, head_hash=prev, merkle_root=merkle_root, checkpoints=checkpoints
    )


# --- Chunks verified in worker processes ----------------------------------------------------


@contextlib.contextmanager
def verification_pool(workers: int | None = None) -> Iterator[Pool | None]:
    """Worker processes for verify_database() and verify_export(), started when entering.

    In a single-threaded process the workers are forked: cheap to start, since they inherit
    the loaded modules. Enter it while this process has no open database connection (a
    child must not inherit one; SQLite keeps its locks per process; the CLI disposes its
    engine's pool first). In a process with other threads, counted by the operating system
    (threads started through `_thread`, as pytest-xdist's execnet does, are invisible to
    `threading`), a fork would copy their held locks, still locked, into the children and
    hang them; there the workers come from a fresh single-threaded "forkserver" process
    instead. The workers open their own connections; every task carries what it needs.

    Yields None, meaning "verify in this process", for fewer than two workers (default: the
    CPUs this process may use) or where neither start method exists. Leaving it stops the
    workers.
    """
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    method = worker_start_method()
    if workers < 2 or method is None:
        yield None
        return
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload([__name__])  # the server imports this module once
    pool = context.Pool(workers, initializer=gc.disable)
    try:
        yield pool
    except BaseException:
        pool.terminate()
        raise
    pool.close()  # let the workers finish and close their database connections
    pool.join()


def os_thread_count() -> int:
    """The threads of this process as the operating system counts them."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # no /proc: what `threading` knows is the best there is
        return threading.active_count()


def worker_start_method() -> str | None:
    """The start method for worker processes: fork if single-threaded, else forkserver."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and os_thread_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else None


@dataclass
class Part:
    """A chunk as a worker found it (see Segment); `task` says how to read it again."""

    task: Any
    first: tuple[int, bytes, bytes] | None = None
    count: int = 0
    prev: bytes | None = None
    failure: Failure | None = None
    recorded: list[Mark] = field(default_factory=list)
    subtrees: list[tuple[bytes, int]] = field(default_factory=list)
    trouble: str | None = None  # the worker raised this: the parent verifies the chunk itself

    @classmethod
    def of(cls, segment: Segment, task: Any) -> Part:
        return cls(
            task=task,
            first=segment.first,
            count=segment.count,
            prev=segment.prev,
            failure=segment.failure,
            recorded=segment.recorded,
            subtrees=segment.merkle.subtrees(),
        )


def in_order(pool: Pool, work: Callable[[Any], Part], tasks: Iterable[Any]) -> Iterator[Part]:
    """work(task) for each task in the pool, yielded in order; the first tasks start at once.

    Only a few tasks are queued ahead, so that stopping at a failure leaves little work behind.
    """
    ahead = 2 * pool._processes  # type: ignore[attr-defined]
    tasks = iter(tasks)
    pending = deque(pool.apply_async(work, (task,)) for task in islice(tasks, ahead))

    def results() -> Iterator[Part]:
        while pending:
            part = pending.popleft().get()
            for task in islice(tasks, 1):
                pending.append(pool.apply_async(work, (task,)))
            yield part

    return results()


def link_parts(
    parts: Iterable[Part],
    judge: _Judge,
    again: Callable[[Part, int, bytes], Part],
) -> tuple[Failure | None, int, bytes, MerkleAccumulator]:
    """Link chunks verified apart, in order: (first failure, count, prev, Merkle tree up to count).

    A chunk links when its first row is the next seq and its entry hash follows from the
    previous chunk's last. One that does not, or whose worker raised, is verified again
    here by `again(part, count, prev)`, which reads it and starts from the given state.
    """
    merkle = MerkleAccumulator()
    count, prev = 0, GENESIS_HASH
    for part in parts:
        if part.trouble is None and part.first is None:
            continue  # no rows in this chunk
        if part.trouble is not None or not _links(part.first, count, prev):
            part = again(part, count, prev)
        mismatch = judge.first_mismatch(part.recorded, merkle)
        if mismatch is not None:
            return _mismatch(mismatch[0]), *mismatch, merkle
        if part.failure is not None:
            return part.failure, part.count, part.prev or prev, merkle
        if part.prev is not None:
            count, prev = part.count, part.prev
        for root, width in part.subtrees:
            merkle.append_subtree(root, width)
    return None, count, prev, merkle


def _links(first: tuple[int, bytes, bytes] | None, count: int, prev: bytes) -> bool:
    if first is None:
        return False
    seq, leaf, stored_hash = first
    return seq == count + 1 and entry_hash(prev, leaf) == stored_hash


def verify_parts(
    parts: Iterable[Part],
    again: Callable[[Part, int, bytes], Part],
    checkpoints: Sequence[Checkpoint],
    public_key: Ed25519PublicKey | None,
    *,
    head: tuple[int, bytes] | None,
    want_root: bool,
) -> VerifyResult:
    """The result of a verification in chunks (see link_parts and _conclude).

    The chunks were given every checkpoint size to mark; the signatures are checked here,
    while the workers verify, and only the trusted checkpoints are compared.
    """
    trusted, bad_checkpoint = check_signatures(checkpoints, public_key)
    judge = _Judge(trusted)
    with _gc_paused():
        failure, count, prev, merkle = link_parts(parts, judge, again)
    root = merkle.root() if want_root and failure is None else None
    return _conclude(failure, count, prev, judge.max_size, head, bad_checkpoint, len(checkpoints), root)


def marked_sizes(checkpoints: Sequence[Checkpoint], public_key: Ed25519PublicKey | None) -> list[int]:
    """The sizes chunks record Merkle subtrees at: those of all checkpoints that may be trusted."""
    return sorted({c.size for c in checkpoints if c.size >= 1}) if public_key is not None else []


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


def _fetch_batches(
    dbapi_connection: Any,
    dialect: Dialect,
    after: int,
    upto: int,
    *,
    text_payload: bool,
    size: int | None = None,
) -> Iterator[list[Row]]:
    """Lists of (seq, payload, entry_hash, mac) for after < seq <= upto, in seq order.

    One keyset query per batch (`seq > last ORDER BY seq LIMIT size`, on the primary key)
    on the driver's own cursor: plain tuples, no Row objects (those cost about as much as
    the hashing). Without `text_payload`, SQLite hands the payload over as its stored UTF-8
    bytes, which is what is hashed (on PostgreSQL converting it costs more than it saves).
    """
    payload = "payload" if text_payload or dialect.name != "sqlite" else "CAST(payload AS BLOB)"
    mark = "?" if dialect.paramstyle == "qmark" else "%s"  # SQLite or psycopg
    query = (
        f"SELECT seq, {payload}, entry_hash, mac FROM audit_event "  # noqa: S608 - constants only
        f"WHERE seq > {mark} AND seq <= {mark} ORDER BY seq LIMIT {mark}"
    )
    size = size or BATCH
    # psycopg: results in binary format, so that bytea arrives as is rather than as hex text.
    cursor = (
        dbapi_connection.cursor(binary=True) if dialect.driver == "psycopg" else dbapi_connection.cursor()
    )
    try:
        while after < upto:
            cursor.execute(query, (after, upto, size))
            rows = cursor.fetchall()
            if not rows:
                return
            yield rows
            after = rows[-1][0]
    finally:
        cursor.close()


def event_batches(
    connection: Connection, after: int, upto: int, *, text_payload: bool = True, size: int | None = None
) -> Iterator[list[Row]]:
    """Lists of (seq, payload, entry_hash, mac) for after < seq <= upto, in seq order, read in
    the connection's transaction (see _fetch_batches)."""
    return _fetch_batches(
        connection.connection, connection.dialect, after, upto, text_payload=text_payload, size=size
    )


def stream_events(session: Session, upto: int) -> Iterator[Row]:
    """(seq, payload, entry_hash, mac) of events 1..upto in order, fetched in large batches."""
    for batch in event_batches(session.connection(), 0, upto):
        yield from batch


@dataclass(frozen=True)
class _DatabaseChunk:
    url: str
    after: int
    upto: int
    mac_key: bytes | None
    marks: tuple[int, ...]
    merkle_limit: int


_worker_connections: dict[str, tuple[Dialect, Any]] = {}  # in a worker: one per database, kept


def _worker_connection(url: str) -> tuple[Dialect, Any]:
    """The worker's dialect and DB-API connection for `url`; closed when the pool shuts down."""
    known = _worker_connections.get(url)
    if known is None:
        engine = create_engine(url, poolclass=NullPool)
        connection = engine.raw_connection()
        multiprocessing.util.Finalize(None, connection.close, exitpriority=10)
        known = _worker_connections[url] = (engine.dialect, connection)
    return known


def _verify_database_chunk(task: _DatabaseChunk) -> Part:
    """In a worker process: verify the events after < seq <= upto, the first one unlinked."""
    try:
        dialect, connection = _worker_connection(task.url)
        segment = Segment(task.mac_key, task.marks, task.merkle_limit, start=task.after, prev=None)
        try:
            for batch in _fetch_batches(connection, dialect, task.after, task.upto, text_payload=False):
                if not segment.feed(batch):
                    break
        finally:
            connection.rollback()  # end the read transaction between chunks
    except Exception as exc:  # the parent verifies this chunk again, and meets the error itself
        _, stale = _worker_connections.pop(task.url, (None, None))
        if stale is not None:
            with contextlib.suppress(Exception):
                stale.close()
        return Part(task, trouble=repr(exc))
    return Part.of(segment, task)


def _worker_url(session: Session) -> str | None:
    """The URL worker processes can open the session's database with, if they can."""
    url = session.get_bind().engine.url
    if url.get_backend_name() == "sqlite" and (url.database or ":memory:") == ":memory:":
        return None
    if url.query.get("mode") == "memory":
        return None
    return url.render_as_string(hide_password=False)


def verify_database(
    session: Session,
    *,
    mac_key: bytes | None,
    public_key: Ed25519PublicKey | None,
    extra_checkpoints: Sequence[Checkpoint] = (),
    upto: int | None = None,
    want_root: bool = False,
    pool: Pool | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Verify the live chain up to the head (or `upto`), with stored and external checkpoints.

    `progress`, if given, is called with the last seq verified as the work goes on.

    With a `pool` (verification_pool()) a long chain is verified in chunks by its workers,
    each in a transaction of its own: they read the events up to the head read here, which
    were committed with it and cannot change (ddl.py; on SQLite the session's BEGIN
    IMMEDIATE also keeps writers out until it ends).
    """
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
    connection = session.connection()
    url = _worker_url(session) if pool is not None and limit >= PARALLEL_MIN else None
    if pool is None or url is None:
        batches = event_batches(connection, 0, limit, text_payload=False)
        if progress is not None:
            batches = _reporting(batches, lambda batch: progress(batch[-1][0]))
        return verify_batches(batches, mac_key, checkpoints, public_key, head=head_check, want_root=want_root)

    sizes = marked_sizes(checkpoints, public_key)
    merkle_limit = NO_LIMIT if want_root else max(sizes, default=0)
    tasks = (
        _DatabaseChunk(
            url,
            after,
            min(after + CHUNK, limit),
            mac_key,
            tuple(sizes[bisect_right(sizes, after) : bisect_right(sizes, after + CHUNK)]),
            merkle_limit,
        )
        for after in range(0, limit, CHUNK)
    )

    def again(part: Part, count: int, prev: bytes) -> Part:
        task: _DatabaseChunk = part.task
        if part.trouble is not None:  # unexpected: the database works here, so why not there?
            log.warning(
                "audit verify: a worker failed (%s); events %d-%d are verified here",
                part.trouble,
                task.after + 1,
                task.upto,
            )
        segment = Segment(mac_key, sizes, merkle_limit, start=count, prev=prev)
        for batch in event_batches(connection, task.after, task.upto, text_payload=False):
            if not segment.feed(batch):
                break
        return Part.of(segment, task)

    parts = in_order(pool, _verify_database_chunk, tasks)
    if progress is not None:
        parts = _reporting(parts, lambda part: progress(part.task.upto))
    return verify_parts(parts, again, checkpoints, public_key, head=head_check, want_root=want_root)


def _reporting(items: Iterable[Any], report: Callable[[Any], None]) -> Iterator[Any]:
    """The items; after the consumer has taken one and asks for the next, `report(item)`."""
    for item in items:
        yield item
        report(item)
