"""Verification finds the first bad seq for every kind of tampering (no database)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sakskydd.audit.chain import (
    GENESIS_HASH,
    canonical_json,
    entry_hash,
    entry_mac,
    leaf_hash,
    merkle_root,
)
from sakskydd.audit.verify import Checkpoint, checkpoint_document, key_fingerprint, verify_events

MAC_KEY = os.urandom(32)
SIGNING_KEY = Ed25519PrivateKey.generate()
PUBLIC_KEY = SIGNING_KEY.public_key()

Row = tuple[int, str, bytes, bytes]


def payload(seq: int, **extra: object) -> str:
    return canonical_json({"seq": seq, "event": "auth.login.success", "source": {"system": "cli"}, **extra})


def build(payloads: list[str], *, mac_key: bytes = MAC_KEY) -> list[Row]:
    rows, prev = [], GENESIS_HASH
    for seq, text in enumerate(payloads, start=1):
        prev = entry_hash(prev, leaf_hash(text))
        rows.append((seq, text, prev, entry_mac(mac_key, prev)))
    return rows


def sign(rows: list[Row], size: int, key: Ed25519PrivateKey = SIGNING_KEY) -> Checkpoint:
    root = merkle_root(leaf_hash(r[1]) for r in rows[:size])
    head = rows[size - 1][2]
    signed_at = "2025-01-01T00:00:00.000000Z"
    return Checkpoint(
        size=size,
        merkle_root=root,
        head_hash=head,
        signed_at=signed_at,
        signature=key.sign(checkpoint_document(size, root, head, signed_at)),
        key_fingerprint=key_fingerprint(key.public_key()),
    )


ROWS = build([payload(seq) for seq in range(1, 21)])
CHECKPOINTS = [sign(ROWS, 8), sign(ROWS, 16)]


def verify(rows: list[Row], checkpoints: list[Checkpoint] = CHECKPOINTS, **kwargs):
    kwargs.setdefault("head", (rows[-1][0], rows[-1][2]) if rows else (0, GENESIS_HASH))
    return verify_events(rows, MAC_KEY, checkpoints, PUBLIC_KEY, **kwargs)


def test_an_untouched_chain_verifies():
    result = verify(ROWS, want_root=True)
    assert result.ok and result.count == 20 and result.first_bad_seq is None
    assert result.head_hash == ROWS[-1][2]
    assert result.merkle_root == merkle_root(leaf_hash(r[1]) for r in ROWS)


def test_an_empty_trail_verifies():
    assert verify_events([], MAC_KEY, [], PUBLIC_KEY, head=(0, GENESIS_HASH)).ok


def replace(rows: list[Row], index: int, **changes: object) -> list[Row]:
    rows = list(rows)
    seq, text, digest, mac = rows[index]
    values = {"seq": seq, "text": text, "digest": digest, "mac": mac, **changes}
    rows[index] = (values["seq"], values["text"], values["digest"], values["mac"])  # type: ignore[assignment]
    return rows


def edited_payload(rows):
    return replace(rows, 4, text=payload(5, outcome="failure"))


def edited_hash(rows):
    return replace(rows, 4, digest=bytes(32))


def deleted_entry(rows):
    return rows[:4] + rows[5:]


def reordered(rows):
    return rows[:4] + [rows[5], rows[4]] + rows[6:]


def swapped_contents(rows):
    # Rows keep their seq but exchange payload, hash and MAC.
    a, b = rows[4], rows[5]
    return rows[:4] + [(5, b[1], b[2], b[3]), (6, a[1], a[2], a[3])] + rows[6:]


def rewritten_without_mac_key(rows):
    # An attacker re-chains from seq 5 on, but cannot compute the MACs.
    texts = [r[1] for r in rows]
    texts[4] = payload(5, outcome="failure")
    forged = build(texts, mac_key=os.urandom(32))
    return rows[:4] + forged[4:]


def wrong_seq_in_payload(rows):
    # Consistent hashes and MACs (an insider with the MAC key), but the payload claims seq 99.
    texts = [r[1] for r in rows]
    texts[4] = payload(99)
    return build(texts)


@pytest.mark.parametrize(
    ("tamper", "first_bad", "code"),
    [
        (edited_payload, 5, "hash_mismatch"),
        (edited_hash, 5, "hash_mismatch"),
        (deleted_entry, 5, "gap"),
        (reordered, 5, "gap"),
        (swapped_contents, 5, "hash_mismatch"),
        (rewritten_without_mac_key, 5, "mac_mismatch"),
        (wrong_seq_in_payload, 5, "payload_seq"),
    ],
)
def test_each_tamper_kind_is_found_at_the_first_bad_seq(
    tamper: Callable[[list[Row]], list[Row]], first_bad: int, code: str
):
    tampered = tamper(ROWS)
    result = verify(tampered, head=None)
    assert not result.ok
    assert (result.first_bad_seq, result.code) == (first_bad, code)
    assert str(first_bad) in (result.reason or "")


def test_an_insider_rewrite_with_the_mac_key_is_caught_by_the_checkpoint():
    texts = [r[1] for r in ROWS]
    texts[4] = payload(5, outcome="failure")
    result = verify(build(texts))
    assert (result.ok, result.first_bad_seq, result.code) == (False, 8, "checkpoint_mismatch")


def test_truncation_below_a_checkpoint_is_found():
    result = verify(ROWS[:12])
    assert (result.ok, result.first_bad_seq, result.code) == (False, 13, "truncated")


def test_restore_of_an_old_backup_is_found_by_a_checkpoint_kept_outside():
    old_backup = ROWS[:10]
    later_checkpoint = sign(ROWS, 16)
    result = verify(old_backup, [sign(ROWS, 8), later_checkpoint])
    assert (result.first_bad_seq, result.code) == (11, "truncated")


def test_truncation_after_the_last_checkpoint_is_found_by_the_head():
    result = verify(ROWS[:18], head=(20, ROWS[-1][2]))
    assert (result.ok, result.first_bad_seq, result.code) == (False, 19, "truncated")
    result = verify(ROWS, head=(20, bytes(32)))
    assert (result.ok, result.first_bad_seq, result.code) == (False, 20, "head_mismatch")


@pytest.mark.parametrize(
    "forge",
    [
        lambda cp: dataclasses.replace(cp, merkle_root=bytes(32)),
        lambda cp: dataclasses.replace(cp, size=cp.size + 1),
        lambda cp: dataclasses.replace(cp, signed_at="2030-01-01T00:00:00.000000Z"),
        lambda cp: dataclasses.replace(cp, signature=bytes(64)),
    ],
    ids=["root", "size", "time", "signature"],
)
def test_a_forged_checkpoint_is_rejected(forge):
    forged = forge(CHECKPOINTS[1])
    result = verify(ROWS, [CHECKPOINTS[0], forged])
    assert not result.ok
    assert result.code == "checkpoint_signature"
    assert result.first_bad_seq == forged.size


def test_a_checkpoint_signed_with_another_key_is_rejected():
    impostor = Ed25519PrivateKey.generate()
    forged = dataclasses.replace(sign(ROWS, 16, impostor), key_fingerprint=CHECKPOINTS[1].key_fingerprint)
    result = verify(ROWS, [forged])
    assert (result.ok, result.code) == (False, "checkpoint_signature")
    result = verify(ROWS, [sign(ROWS, 16, impostor)])
    assert (result.ok, result.code) == (False, "checkpoint_key")


def test_checkpoints_without_a_public_key_do_not_verify():
    result = verify_events(ROWS, MAC_KEY, CHECKPOINTS, None)
    assert (result.ok, result.code) == (False, "no_public_key")


def test_the_mac_is_optional_but_the_chain_is_not():
    result = verify_events(rewritten_without_mac_key(ROWS), None, [], None)
    assert result.ok  # without the key only checkpoints can catch a full rewrite…
    result = verify_events(rewritten_without_mac_key(ROWS), None, CHECKPOINTS, PUBLIC_KEY)
    assert (result.ok, result.first_bad_seq) == (False, 8)  # …and they do
    assert not verify_events(edited_payload(ROWS), None, [], None).ok


def test_the_earliest_problem_is_reported():
    result = verify(
        edited_payload(ROWS), [CHECKPOINTS[0], dataclasses.replace(CHECKPOINTS[1], signature=bytes(64))]
    )
    assert (result.first_bad_seq, result.code) == (5, "hash_mismatch")
