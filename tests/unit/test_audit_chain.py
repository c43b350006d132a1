"""The pure chain functions: canonical JSON, hashes and RFC 6962 Merkle roots."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sakskydd.audit.chain import (
    GENESIS_HASH,
    MerkleAccumulator,
    NotCanonical,
    canonical_json,
    chain,
    entry_hash,
    leaf_hash,
    merkle_root,
    node_hash,
    payload_seq,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, written as the recursion in the RFC."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])).digest()


@given(json_values)
def test_canonical_json_is_stable_and_round_trips(value):
    text = canonical_json(value)
    assert json.loads(text) == value
    assert canonical_json(json.loads(text)) == text


def test_canonical_json_sorts_keys_without_spaces_or_escaping():
    assert canonical_json({"b": 1, "a": [True, None], "ö": "Å"}) == '{"a":[true,null],"b":1,"ö":"Å"}'


@pytest.mark.parametrize(
    "value", [1.5, {"a": 0.0}, [1, [2, float("nan")]], {1: "non-string key"}, b"bytes", {"a": {"b"}}]
)
def test_canonical_json_refuses_floats_and_non_json_values(value):
    with pytest.raises(NotCanonical):
        canonical_json(value)


def test_canonical_json_refuses_lone_surrogates():
    with pytest.raises(NotCanonical):
        canonical_json({"a": "\ud800"})


def test_hashes_follow_the_documented_construction():
    payload = '{"seq":1}'
    leaf = hashlib.sha256(b"\x00" + payload.encode()).digest()
    assert leaf_hash(payload) == leaf == leaf_hash(payload.encode())
    assert entry_hash(GENESIS_HASH, leaf) == hashlib.sha256(b"audit-chain/v1" + bytes(32) + leaf).digest()
    assert node_hash(leaf, leaf) == hashlib.sha256(b"\x01" + leaf + leaf).digest()


@pytest.mark.parametrize("size", range(0, 70))
def test_merkle_root_matches_rfc_6962_for_every_small_size(size):
    leaves = [leaf_hash(str(i)) for i in range(size)]
    assert merkle_root(leaves) == reference_root(leaves)


@settings(max_examples=50)
@given(st.lists(st.binary(min_size=32, max_size=32), max_size=300))
def test_merkle_accumulator_gives_every_prefix_root(leaves):
    accumulator = MerkleAccumulator()
    for index, leaf in enumerate(leaves):
        accumulator.append(leaf)
        if index % 17 == 0:
            assert accumulator.root() == reference_root(leaves[: index + 1])
    assert accumulator.root() == reference_root(leaves)


@given(st.lists(st.text(), min_size=1, max_size=20), st.data())
def test_changing_any_payload_changes_its_hash_and_every_later_one(payloads, data):
    original = chain(payloads)
    index = data.draw(st.integers(0, len(payloads) - 1))
    changed = list(payloads)
    changed[index] += "x"
    tampered = chain(changed)
    assert tampered[:index] == original[:index]
    assert all(a != b for a, b in zip(tampered[index:], original[index:], strict=True))


@pytest.mark.parametrize(
    ("payload", "seq"),
    [
        ('{"actor":null,"seq":12,"source":{"system":"cli"}}', 12),
        ('{"detail":{"seq":3},"seq":4,"time":"x"}', 4),
        ('{"reason":"\\"seq\\":9","seq":10,"time":"x"}', 10),
        ('{"no":"seq"}', None),
    ],
)
def test_payload_seq_finds_the_top_level_seq(payload, seq):
    assert payload_seq(payload) == seq


@settings(max_examples=50)
@given(st.lists(st.binary(min_size=32, max_size=32), max_size=300), st.data())
def test_merkle_extend_equals_appending_one_by_one(leaves, data):
    one_by_one, extended = MerkleAccumulator(), MerkleAccumulator()
    for leaf in leaves:
        one_by_one.append(leaf)
    start = 0
    while start < len(leaves):
        end = data.draw(st.integers(start + 1, len(leaves)))
        extended.extend(leaves[start:end])
        start = end
    assert extended.root() == one_by_one.root() == reference_root(leaves)
    assert extended.size == len(leaves)


@settings(max_examples=50)
@given(st.lists(st.binary(min_size=32, max_size=32), max_size=200), st.data())
def test_merkle_subtrees_of_chunks_combine_into_the_whole_tree(leaves, data):
    """Chunks verified apart (sakskydd/audit/verify.py) give the root of any prefix."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(leaves)), max_size=5)))
    bounds = [0, *cuts, len(leaves)]
    before = MerkleAccumulator()
    for start, end in zip(bounds, bounds[1:], strict=False):
        chunk = MerkleAccumulator(start)
        chunk.extend(leaves[start:end])
        if end > start:  # a checkpoint inside the chunk
            size = data.draw(st.integers(start + 1, end))
            partial = MerkleAccumulator(start)
            partial.extend(leaves[start:size])
            tree = before.copy()
            for root, width in partial.subtrees():
                tree.append_subtree(root, width)
            assert tree.root() == reference_root(leaves[:size])
        for root, width in chunk.subtrees():
            before.append_subtree(root, width)
        assert before.root() == reference_root(leaves[:end])


def test_merkle_subtrees_must_be_aligned():
    accumulator = MerkleAccumulator()
    accumulator.append(leaf_hash("a"))
    with pytest.raises(ValueError):
        accumulator.append_subtree(bytes(32), 2)  # would start at 1, not a multiple of 2
    with pytest.raises(ValueError):
        accumulator.append_subtree(bytes(32), 3)
    with pytest.raises(ValueError):
        MerkleAccumulator(5).root()  # only a tree from the first leaf has a root
