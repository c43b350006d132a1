"""Sealed values, the column type and blind indexes, without a database."""

from __future__ import annotations

import secrets
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sakskydd.crypto.errors import DecryptionError
from sakskydd.crypto.fields import (
    EncryptedBytes,
    PlaintextNotAllowed,
    Sealed,
    blind_index,
    key_id_of,
    open_sealed,
    seal,
)
from sakskydd.crypto.keyring import KeyRing


def make_keyring(*, primary_id: int = 7, other_ids: tuple[int, ...] = ()) -> KeyRing:
    return KeyRing(
        primary_id=primary_id,
        data_keys={key_id: secrets.token_bytes(32) for key_id in (primary_id, *other_ids)},
        blind_index_key=secrets.token_bytes(32),
        audit_mac_key=secrets.token_bytes(32),
    )


KEYRING = make_keyring(primary_id=0x1234_5678, other_ids=(99,))
UNIT = uuid.UUID("11111111-1111-4111-8111-111111111111")
ROW = uuid.UUID("22222222-2222-4222-8222-222222222222")
CONTEXT = {"table": "vetting_case", "column": "notes", "row_id": ROW, "unit_id": UNIT}

identifiers = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=30
)


@settings(max_examples=200)
@given(
    plaintext=st.binary(max_size=2000),
    table=identifiers,
    column=identifiers,
    row_id=st.uuids(),
    unit_id=st.none() | st.uuids(),
)
def test_sealed_value_round_trips(plaintext, table, column, row_id, unit_id):
    context = {"table": table, "column": column, "row_id": row_id, "unit_id": unit_id}
    sealed = seal(plaintext, keyring=KEYRING, **context)
    assert isinstance(sealed, Sealed)
    assert open_sealed(sealed, keyring=KEYRING, **context) == plaintext


def test_sealed_format_is_version_key_id_nonce_ciphertext_tag():
    sealed = seal(b"hemligt", keyring=KEYRING, **CONTEXT)
    assert sealed[0] == 0x01
    assert sealed[1:5] == (0x1234_5678).to_bytes(4, "big")
    assert len(sealed) == 1 + 4 + 12 + len(b"hemligt") + 16
    assert key_id_of(sealed) == 0x1234_5678


def test_each_seal_uses_a_fresh_nonce():
    first = seal(b"same", keyring=KEYRING, **CONTEXT)
    second = seal(b"same", keyring=KEYRING, **CONTEXT)
    assert first[5:17] != second[5:17]
    assert first != second


@pytest.mark.parametrize(
    "change",
    [
        {"row_id": uuid.UUID("33333333-3333-4333-8333-333333333333")},
        {"column": "summary"},
        {"table": "asset"},
        {"unit_id": uuid.UUID("44444444-4444-4444-8444-444444444444")},
        {"unit_id": None},
    ],
    ids=["other-row", "other-column", "other-table", "other-unit", "no-unit"],
)
def test_ciphertext_moved_to_another_context_does_not_open(change):
    sealed = seal(b"personuppgift", keyring=KEYRING, **CONTEXT)
    with pytest.raises(DecryptionError) as error:
        open_sealed(sealed, keyring=KEYRING, **{**CONTEXT, **change})
    assert str(error.value) == DecryptionError.MESSAGE


def test_tampering_with_any_byte_fails_with_the_one_generic_error():
    sealed = seal(b"anteckning", keyring=KEYRING, **CONTEXT)
    messages = set()
    for position in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises(DecryptionError) as error:
            open_sealed(bytes(tampered), keyring=KEYRING, **CONTEXT)
        messages.add(str(error.value))
    assert messages == {DecryptionError.MESSAGE}


@pytest.mark.parametrize("cut", [0, 1, 5, 17, 32])
def test_truncated_ciphertext_fails(cut):
    sealed = seal(b"x", keyring=KEYRING, **CONTEXT)
    with pytest.raises(DecryptionError):
        open_sealed(sealed[:cut], keyring=KEYRING, **CONTEXT)


def test_unknown_key_id_fails_generically():
    other = make_keyring(primary_id=4242)
    sealed = seal(b"x", keyring=other, **CONTEXT)
    with pytest.raises(DecryptionError) as error:
        open_sealed(sealed, keyring=KEYRING, **CONTEXT)
    assert str(error.value) == DecryptionError.MESSAGE
    assert error.value.key_id == 4242  # for the audit event, never in the message


def test_a_key_ring_with_the_same_ids_but_other_keys_cannot_open():
    sealed = seal(b"x", keyring=KEYRING, **CONTEXT)
    impostor = make_keyring(primary_id=0x1234_5678)
    with pytest.raises(DecryptionError):
        open_sealed(sealed, keyring=impostor, **CONTEXT)


def test_values_sealed_under_an_older_enabled_key_still_open():
    old = KeyRing(
        primary_id=99,
        data_keys={99: KEYRING.data_key(99)},
        blind_index_key=KEYRING.blind_index_key,
        audit_mac_key=KEYRING.audit_mac_key,
    )
    sealed = seal(b"gammal", keyring=old, **CONTEXT)
    assert key_id_of(sealed) == 99
    assert open_sealed(sealed, keyring=KEYRING, **CONTEXT) == b"gammal"


def test_key_ring_never_shows_key_material():
    assert KEYRING.data_key(99).hex() not in repr(KEYRING)


@pytest.mark.parametrize("value", [b"plaintext", "plaintext", bytearray(b"x"), memoryview(b"x")])
def test_encrypted_column_type_refuses_anything_but_sealed(value):
    with pytest.raises(PlaintextNotAllowed):
        EncryptedBytes().process_bind_param(value, dialect=None)  # type: ignore[arg-type]


def test_encrypted_column_type_passes_sealed_values_and_none():
    sealed = seal(b"x", keyring=KEYRING, **CONTEXT)
    column = EncryptedBytes()
    assert column.process_bind_param(sealed, dialect=None) == bytes(sealed)  # type: ignore[arg-type]
    assert column.process_bind_param(None, dialect=None) is None  # type: ignore[arg-type]
    assert isinstance(column.process_result_value(bytes(sealed), dialect=None), Sealed)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Anna Svensson", "anna svensson"),
        ("ANNA  SVENSSON", " anna svensson "),
        ("Ｓｖｅｎｓｓｏｎ", "svensson"),  # fullwidth letters, NFKC
        ("Straße", "STRASSE"),  # case folding, not lower()
        ("19121212-1212", "19121212-1212\n"),
        ("Åsa", "A\u030asa"),  # composed and decomposed Å
    ],
)
def test_blind_index_matches_normalised_variants(first, second):
    assert blind_index(first, UNIT, KEYRING) == blind_index(second, UNIT, KEYRING)


def test_blind_index_is_16_bytes_and_separates_units_values_and_keys():
    index = blind_index("19121212-1212", UNIT, KEYRING)
    assert len(index) == 16
    assert index != blind_index("19121212-1212", None, KEYRING)
    assert index != blind_index("19121212-1213", UNIT, KEYRING)
    assert index != blind_index("19121212-1212", UNIT, make_keyring())
