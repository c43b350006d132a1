"""Pure functions of the audit chain: canonical JSON, leaf and entry hashes, Merkle roots.

leaf       = SHA-256(0x00 ‖ payload)
entry_hash = SHA-256("audit-chain/v1" ‖ prev_hash ‖ leaf)      prev_hash of seq 1 = 32 zero bytes
mac        = HMAC-SHA-256(audit MAC key, entry_hash)
node       = SHA-256(0x01 ‖ left ‖ right)                      Merkle tree as RFC 6962
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections import deque
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any

CHAIN_LABEL = b"audit-chain/v1"
GENESIS_HASH = bytes(32)
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
_NODE_BASE = hashlib.sha256(NODE_PREFIX)
_HASH = type(_NODE_BASE)
_discard = deque(maxlen=0).extend  # runs an iterator to its end, keeping nothing


class NotCanonical(ValueError):
    """A value that cannot be part of a canonical payload (floats, non-string keys, …)."""


def _check(value: Any, path: str) -> None:
    if value is None or isinstance(value, bool | int | str):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise NotCanonical(f"{path}: not valid UTF-8") from None
        return
    if isinstance(value, float):
        raise NotCanonical(f"{path}: floats are not allowed in audit payloads")
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotCanonical(f"{path}: keys must be strings")
            _check(item, f"{path}.{key}")
        return
    raise NotCanonical(f"{path}: {type(value).__name__} is not a JSON value")


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 as is; raises NotCanonical for floats and non-JSON values."""
    _check(value, "$")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def format_time(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with microseconds and a Z: 2025-01-31T12:00:00.000000Z."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _bytes(payload: str | bytes) -> bytes:
    return payload.encode("utf-8") if isinstance(payload, str) else payload


def payload_seq(payload: str) -> int | None:
    """The top-level "seq" of a canonical payload, by a scan rather than a parse (for speed).

    Keys sort, so the last `"seq":` belongs to the top level unless "source", "target" or
    "time" (the keys after it) contain one; record() refuses such payloads. Inside strings
    a quote is escaped, so `"seq":` cannot come from a value.
    """
    start = payload.rfind('"seq":')
    if start < 0:
        return None
    start += 6
    end = start
    length = len(payload)
    while end < length and payload[end].isdigit():
        end += 1
    return int(payload[start:end]) if end > start else None


def leaf_hash(payload: str | bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + _bytes(payload)).digest()


def entry_hash(prev_hash: bytes, leaf: bytes) -> bytes:
    return hashlib.sha256(CHAIN_LABEL + prev_hash + leaf).digest()


def entry_mac(mac_key: bytes, entry: bytes) -> bytes:
    return hmac.digest(mac_key, entry, "sha256")


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


class MerkleAccumulator:
    """Appends leaves and gives the RFC 6962 root of the leaves so far.

    Keeps the roots of the largest perfect subtrees of the leaves so far (one per set bit of
    the size, largest first), so appending costs one hash amortised and a root costs at
    most log2(size) hashes. `extend` hashes whole perfect subtrees a level at a time, which
    is several times faster per leaf than `append`.

    An accumulator may also cover only the leaves from position `start` on (a chunk that
    another process verifies, sakskydd/audit/verify.py): it then keeps the subtrees as the
    whole tree has them, and `subtrees()` can be appended, in order, to an accumulator of
    the leaves before `start` with `append_subtree`.
    """

    __slots__ = ("_stack", "_widths", "start", "size")

    def __init__(self, start: int = 0) -> None:
        self._stack: list[bytes] = []
        self._widths: list[int] = []  # leaves under each root of _stack
        self.start = start
        self.size = start  # the position after the last leaf (the number of leaves when start is 0)

    def append(self, leaf: bytes) -> None:
        self.append_subtree(leaf, 1)

    def extend(self, leaves: Sequence[bytes]) -> None:
        """Append many leaves; the same result as appending them one by one."""
        begin, total = 0, len(leaves)
        while begin < total:
            # The largest perfect subtree that begins at the current position and fits in the rest.
            width = 1 << ((total - begin).bit_length() - 1)
            if self.size:
                width = min(width, self.size & -self.size)
            self.append_subtree(perfect_root(leaves[begin : begin + width]), width)
            begin += width

    def append_subtree(self, root: bytes, width: int) -> None:
        """Append the root of a perfect subtree of `width` (a power of two) leaves.

        The position must be a multiple of `width`: the subtree then lies where the RFC 6962
        tree has it, and the result equals appending its leaves one by one.
        """
        if width < 1 or width & (width - 1) or self.size % width:
            raise ValueError("a subtree must be a power of two wide and start at a multiple of it")
        stack, widths = self._stack, self._widths
        stack.append(root)
        widths.append(width)
        self.size += width
        # Two neighbours of equal width join when the left one starts at a multiple of twice it.
        while len(widths) > 1 and widths[-2] == width and (self.size - 2 * width) % (2 * width) == 0:
            right = stack.pop()
            widths.pop()
            hasher = _NODE_BASE.copy()  # copying a prepared state is cheaper than a new object
            hasher.update(stack[-1] + right)
            stack[-1] = hasher.digest()
            width *= 2
            widths[-1] = width

    def subtrees(self) -> list[tuple[bytes, int]]:
        """(root, width) of the perfect subtrees so far, in order."""
        return list(zip(self._stack, self._widths, strict=True))

    def copy(self) -> MerkleAccumulator:
        other = MerkleAccumulator(self.start)
        other._stack, other._widths, other.size = list(self._stack), list(self._widths), self.size
        return other

    def root(self) -> bytes:
        """The root of the leaves so far (the accumulator must start at 0)."""
        if self.start:
            raise ValueError("only an accumulator from the first leaf has a root")
        if not self._stack:
            return EMPTY_ROOT
        stack = self._stack
        result = stack[-1]
        for left in reversed(stack[:-1]):
            result = node_hash(left, result)
        return result


def perfect_root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle root of a power-of-two number of leaves, hashed a level at a time.

    Each level is hashed with map() over copies of a prepared SHA-256 state (0x01 read),
    fed the left and then the right children, so the loop over the nodes runs in C.
    """
    level = list(leaves)
    if not level or len(level) & (len(level) - 1):
        raise ValueError("perfect_root needs a power-of-two number of leaves")
    while len(level) > 1:
        hashers = list(map(_HASH.copy, repeat(_NODE_BASE, len(level) // 2)))
        _discard(map(_HASH.update, hashers, level[0::2]))
        _discard(map(_HASH.update, hashers, level[1::2]))
        level = list(map(_HASH.digest, hashers))
    return level[0]


def merkle_root(leaves: Iterable[bytes]) -> bytes:
    """The RFC 6962 Merkle tree hash over leaf hashes (SHA-256 of the empty string when empty)."""
    accumulator = MerkleAccumulator()
    accumulator.extend(list(leaves))
    return accumulator.root()


def chain(payloads: Iterable[str | bytes], prev_hash: bytes = GENESIS_HASH) -> list[bytes]:
    """Entry hashes of consecutive payloads after `prev_hash`."""
    hashes = []
    for payload in payloads:
        prev_hash = entry_hash(prev_hash, leaf_hash(payload))
        hashes.append(prev_hash)
    return hashes
