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
from collections.abc import Iterable
from typing import Any

CHAIN_LABEL = b"audit-chain/v1"
GENESIS_HASH = bytes(32)
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
_NODE_BASE = hashlib.sha256(NODE_PREFIX)


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
    """Appends leaves one at a time and gives the RFC 6962 root of the leaves so far.

    Keeps the roots of the perfect subtrees (one per set bit of the size), so appending
    costs one hash amortised and a root costs at most log2(size) hashes.
    """

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self._stack: list[bytes] = []
        self.size = 0

    def append(self, leaf: bytes) -> None:
        self.size += 1
        stack = self._stack
        stack.append(leaf)
        n = self.size
        while not n & 1:
            right = stack.pop()
            hasher = _NODE_BASE.copy()  # copying a prepared state is cheaper than a new object
            hasher.update(stack[-1] + right)
            stack[-1] = hasher.digest()
            n >>= 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        stack = self._stack
        result = stack[-1]
        for left in reversed(stack[:-1]):
            result = node_hash(left, result)
        return result


def merkle_root(leaves: Iterable[bytes]) -> bytes:
    """The RFC 6962 Merkle tree hash over leaf hashes (SHA-256 of the empty string when empty)."""
    accumulator = MerkleAccumulator()
    for leaf in leaves:
        accumulator.append(leaf)
    return accumulator.root()


def chain(payloads: Iterable[str | bytes], prev_hash: bytes = GENESIS_HASH) -> list[bytes]:
    """Entry hashes of consecutive payloads after `prev_hash`."""
    hashes = []
    for payload in payloads:
        prev_hash = entry_hash(prev_hash, leaf_hash(payload))
        hashes.append(prev_hash)
    return hashes
