"""Verification finds the first bad seq for every kind of tampering (no database)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from sakskydd.audit import verify as verify_module
from sakskydd.audit.chain import (
    GENESIS_HASH,
    canonical_json,
    entry_hash,
    entry_mac,
    leaf_hash,
    merkle_root,
)
from sakskydd.audit.verify import Checkpoint, Segment, checkpoint_document, key_fingerprint, verify_events

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


def insider_rewrite(rows):
    # An insider with the MAC key re-chains from seq 5 on: only the checkpoint at 8 tells.
    texts = [r[1] for r in rows]
    texts[4] = payload(5, outcome="failure")
    return build(texts)


def untouched(rows):
    return rows


@pytest.mark.parametrize("batch", [1, 2, 3, 7])
@pytest.mark.parametrize(
    "tamper",
    [
        untouched,
        edited_payload,
        edited_hash,
        deleted_entry,
        reordered,
        swapped_contents,
        rewritten_without_mac_key,
        wrong_seq_in_payload,
        insider_rewrite,
    ],
)
def test_the_batch_size_does_not_change_the_result(monkeypatch, batch, tamper):
    rows = tamper(ROWS)
    expected = verify(rows, want_root=True)  # one batch: all 20 rows
    monkeypatch.setattr(verify_module, "BATCH", batch)
    assert verify(rows, want_root=True) == expected


def test_payloads_as_bytes_verify_like_text():
    as_bytes = [(seq, text.encode(), digest, mac) for seq, text, digest, mac in ROWS]
    assert verify(as_bytes, want_root=True) == verify(ROWS, want_root=True)
    tampered = [(seq, text.encode(), digest, mac) for seq, text, digest, mac in edited_payload(ROWS)]
    assert (verify(tampered).first_bad_seq, verify(tampered).code) == (5, "hash_mismatch")


@pytest.mark.parametrize("odd", [True, 1.0], ids=["bool", "float"])
def test_a_seq_that_only_equals_the_number_is_not_accepted(odd):
    rows = list(ROWS)
    rows[0] = (odd, *rows[0][1:])  # == 1, but the payload says 1
    result = verify(rows)
    assert (result.ok, result.first_bad_seq, result.code) == (False, 1, "payload_seq")


@pytest.mark.parametrize("length", [16, 64, 65, 100])
def test_mac_keys_of_any_length(length):
    key = os.urandom(length)
    rows = build([payload(seq) for seq in range(1, 6)], mac_key=key)
    assert verify_events(rows, key, [], None).ok
    result = verify_events(rows, os.urandom(length), [], None)
    assert (result.first_bad_seq, result.code) == (1, "mac_mismatch")


def _state(segment: Segment):
    return (
        segment.count,
        segment.prev,
        segment.failure,
        segment.recorded,
        segment.merkle.subtrees(),
        segment.first,
    )


_tampers = st.sampled_from(
    [edited_payload, edited_hash, deleted_entry, reordered, swapped_contents, wrong_seq_in_payload, untouched]
)


@settings(max_examples=100)
@given(st.lists(_tampers, max_size=2), st.integers(0, 12), st.booleans(), st.booleans(), st.data())
def test_the_fast_path_agrees_with_the_row_by_row_reference(tampers, start, with_mac, as_bytes, data):
    """Segment.feed checks a batch a column at a time; the slow path is the reference."""
    rows = ROWS
    for tamper in tampers:
        rows = tamper(rows)
    rows = rows[start:]
    if as_bytes:
        rows = [(seq, text.encode(), digest, mac) for seq, text, digest, mac in rows]
    prev = ROWS[start - 1][2] if start else GENESIS_HASH
    mac_key = MAC_KEY if with_mac else None
    marks = data.draw(st.lists(st.integers(1, 20), max_size=4))
    unlinked = data.draw(st.booleans())
    fast = Segment(mac_key, marks, 20, start=start, prev=None if unlinked else prev)
    slow = Segment(mac_key, marks, 20, start=start, prev=None if unlinked else prev)
    cut = data.draw(st.integers(0, len(rows)))
    for batch in (rows[:cut], rows[cut:]):
        fast.feed(batch)
        if slow.failure is None and batch:
            if slow.prev is None:
                slow._begin_at(batch[0][0])
            slow._feed_slow(batch)
    assert _state(fast) == _state(slow)
