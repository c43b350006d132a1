"""Key ring, encrypted attributes and key rotation on a real database."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from sakskydd.accounts.models import User
from sakskydd.audit.models import AuditEvent
from sakskydd.config import Settings
from sakskydd.crypto import init_app as init_crypto
from sakskydd.crypto import services
from sakskydd.crypto.errors import DecryptionError, KEKError, KeyOperationError, KeyRingError
from sakskydd.crypto.fields import PlaintextNotAllowed, Sealed, key_id_of, move_to_unit, registered_fields
from sakskydd.crypto.keyring import KeyRing, ensure_initial_keys
from sakskydd.crypto.models import CryptoKey, KeyPurpose, KeyStatus
from sakskydd.crypto.providers import FileKEKProvider, generate_kek_file
from sakskydd.extensions import Database
from sakskydd.organisations.models import Operator, OperatorKind

pytestmark = pytest.mark.db

# The test-only model declared in conftest.py (found through the registry, not imported twice).
SealedNote = next(f.model for f in registered_fields() if f.table == "unit_test_sealed_note")

SECRET = "JBSWY3DPEHPK3PXP-KNOWN-SECRET"


def note_fields():
    return [f for f in registered_fields() if f.model is SealedNote]


def all_fields():
    return [f for f in registered_fields() if f.model in (SealedNote, User)]


def make_user(session: Session, **kwargs) -> User:
    operator = Operator(name=f"Stockholms stad {uuid.uuid4().hex[:6]}", kind=OperatorKind.KOMMUN)
    session.add(operator)
    session.flush()
    user = User(
        username=f"u{uuid.uuid4().hex[:8]}",
        display_name="Test",
        email="t@example.se",
        operator_id=operator.id,
        **kwargs,
    )
    session.add(user)
    session.flush()
    return user


def events(session: Session, tag: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.event == tag).order_by(AuditEvent.seq)))


def reload(app: Flask, session: Session, provider: FileKEKProvider) -> KeyRing:
    keyring = KeyRing.load(session, provider)
    app.extensions["sakskydd.keyring"] = keyring
    return keyring


def test_initial_keys_are_created_once_and_audited(unit_app, unit_session, unit_provider):
    keys = unit_session.scalars(select(CryptoKey)).all()
    assert sorted(k.purpose for k in keys) == sorted(KeyPurpose)
    assert {k.status for k in keys} == {KeyStatus.PRIMARY}
    assert all(0 < k.id < 2**31 for k in keys)
    assert ensure_initial_keys(unit_session, unit_provider) == []
    assert len(events(unit_session, "keys.added")) == 3


def test_init_app_refuses_without_a_primary_key(unit_database: Database, unit_settings: Settings):
    app = Flask("no_keys")
    app.config["SAKSKYDD_SETTINGS"] = unit_settings
    app.extensions["sakskydd.db"] = unit_database
    with pytest.raises(KeyRingError, match="no primary"):
        init_crypto(app)
    assert "sakskydd.keyring" not in app.extensions


def test_init_app_refuses_without_the_kek(unit_app, unit_settings: Settings, tmp_path: Path):
    app = Flask("no_kek")
    app.config["SAKSKYDD_SETTINGS"] = Settings(
        environment="test",
        secret_key="s",
        database_url=unit_settings.database_url,
        kek_file=tmp_path / "missing",
    )
    app.extensions["sakskydd.db"] = unit_app.extensions["sakskydd.db"]
    with pytest.raises(KEKError):
        init_crypto(app)


def test_init_app_refuses_another_kek(unit_app, unit_settings: Settings, tmp_path: Path):
    app = Flask("wrong_kek")
    app.config["SAKSKYDD_SETTINGS"] = Settings(
        environment="test",
        secret_key="s",
        database_url=unit_settings.database_url,
        kek_file=generate_kek_file(tmp_path / "other-kek"),
    )
    app.extensions["sakskydd.db"] = unit_app.extensions["sakskydd.db"]
    with pytest.raises(KEKError):
        init_crypto(app)


def test_user_totp_secret_is_sealed_and_reads_back(unit_session: Session, unit_keyring: KeyRing):
    user = make_user(unit_session, totp_secret=SECRET)
    unit_session.commit()
    unit_session.expire_all()
    stored = unit_session.get(User, user.id)
    assert stored.totp_secret == SECRET
    assert isinstance(stored.totp_secret_ct, Sealed)
    assert key_id_of(stored.totp_secret_ct) == unit_keyring.primary_id
    stored.totp_secret = None
    unit_session.commit()
    assert unit_session.scalar(select(User.totp_secret_ct).where(User.id == user.id)) is None


@pytest.mark.backend("sqlite")
def test_plaintext_never_reaches_the_database_file(unit_session: Session, unit_db_url: str):
    make_user(unit_session, totp_secret=SECRET)
    unit_session.add(SealedNote(unit_id=uuid.uuid4(), body=SECRET + "-note", attachment=SECRET.encode()))
    unit_session.commit()
    path = Path(unit_db_url.removeprefix("sqlite:///"))
    raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    assert raw
    assert SECRET.encode() not in raw
    assert SECRET.encode("utf-16-le") not in raw


def test_plaintext_assigned_to_an_encrypted_column_is_refused(unit_session: Session):
    user = make_user(unit_session)
    user.totp_secret_ct = SECRET.encode()
    with pytest.raises(StatementError) as error:
        unit_session.flush()
    assert isinstance(error.value.orig, PlaintextNotAllowed)
    unit_session.rollback()
    with pytest.raises(StatementError):
        unit_session.execute(SealedNote.__table__.insert().values(id=uuid.uuid4(), body=SECRET.encode()))
    unit_session.rollback()
    with pytest.raises(StatementError):
        unit_session.execute(select(User).where(User.totp_secret_ct == SECRET.encode()))


def test_descriptor_rejects_wrong_types_and_rows_without_id(unit_app):
    note = SealedNote()
    with pytest.raises(TypeError):
        note.body = b"bytes for a text field"
    with pytest.raises(TypeError):
        note.attachment = "text for a bytes field"
    note.id = None
    with pytest.raises(TypeError, match="id must be set"):
        note.body = "x"


def test_ciphertext_copied_between_rows_units_or_columns_does_not_open(unit_session: Session):
    unit = uuid.uuid4()
    first = SealedNote(unit_id=unit, body="första", attachment=b"bilaga")
    second = SealedNote(unit_id=unit, body="andra")
    unit_session.add_all([first, second])
    unit_session.commit()
    second.body_ct = first.body_ct
    unit_session.commit()
    unit_session.expire_all()
    with pytest.raises(DecryptionError):
        _ = unit_session.get(SealedNote, second.id).body
    first = unit_session.get(SealedNote, first.id)
    first.unit_id = uuid.uuid4()  # moved to another unit without re-sealing
    with pytest.raises(DecryptionError):
        _ = first.body
    first.unit_id = unit
    first.body_ct = first.attachment_ct  # another column of the same row
    with pytest.raises(DecryptionError):
        _ = first.body


def test_move_to_unit_reseals_every_encrypted_attribute(unit_session: Session):
    note = SealedNote(unit_id=uuid.uuid4(), body="text", attachment=b"bin")
    new_unit = uuid.uuid4()
    move_to_unit(note, new_unit)
    assert note.unit_id == new_unit
    assert (note.body, note.attachment) == ("text", b"bin")


def test_rotation_midway_then_reencrypt_then_disable(
    unit_app: Flask, unit_session: Session, unit_provider: FileKEKProvider
):
    keyring = unit_app.extensions["sakskydd.keyring"]
    old_id = keyring.primary_id
    unit = uuid.uuid4()
    old_notes = [SealedNote(unit_id=unit, body=f"gammal {i}", attachment=bytes([i])) for i in range(7)]
    unit_session.add_all(old_notes)
    unit_session.commit()

    new_key = services.add_key(unit_session, unit_provider, keyring)
    unit_session.commit()
    keyring = reload(unit_app, unit_session, unit_provider)
    services.promote_key(unit_session, keyring, new_key.id)
    unit_session.commit()
    keyring = reload(unit_app, unit_session, unit_provider)
    assert keyring.primary_id == new_key.id
    new_notes = [SealedNote(unit_id=None, body=f"ny {i}") for i in range(3)]
    unit_session.add_all(new_notes)
    unit_session.commit()
    unit_session.expire_all()

    # Mid-way: some values under the old key, some under the new one, all readable.
    notes = unit_session.scalars(select(SealedNote)).all()
    assert {key_id_of(n.body_ct) for n in notes} == {old_id, new_key.id}
    assert sorted(n.body for n in notes) == sorted(
        [f"gammal {i}" for i in range(7)] + [f"ny {i}" for i in range(3)]
    )
    status = {k.id: k for k in services.key_status(unit_session, fields=note_fields())}
    assert status[old_id].rows == 14 and status[old_id].status == "enabled"
    assert status[new_key.id].rows == 3 and status[new_key.id].status == "primary"
    with pytest.raises(KeyOperationError, match="still sealed"):
        services.disable_key(unit_session, keyring, old_id, fields=note_fields())
    unit_session.rollback()

    progress: list[int] = []
    assert services.count_pending(unit_session, keyring, fields=note_fields()) == 14
    result = services.reencrypt(
        unit_session, keyring, batch_size=3, progress=progress.append, fields=note_fields()
    )
    assert result.rows == 14 and not result.failed
    assert sum(progress) == 14
    assert services.count_pending(unit_session, keyring, fields=note_fields()) == 0
    assert (
        services.reencrypt(unit_session, keyring, fields=note_fields()).rows == 0
    )  # resumable: nothing left

    services.disable_key(unit_session, keyring, old_id, fields=note_fields())
    unit_session.commit()
    keyring = reload(unit_app, unit_session, unit_provider)
    assert old_id not in keyring
    unit_session.expire_all()
    notes = unit_session.scalars(select(SealedNote)).all()
    assert sorted(n.body for n in notes)[0] == "gammal 0"
    assert {n.attachment for n in notes if n.attachment is not None} == {bytes([i]) for i in range(7)}
    assert len(events(unit_session, "keys.reencrypted")) >= 1
    assert [len(events(unit_session, t)) for t in ("keys.promoted", "keys.disabled")] == [1, 1]


def test_reencrypt_skips_and_audits_values_that_do_not_open(
    unit_app: Flask, unit_session: Session, unit_provider: FileKEKProvider
):
    keyring = unit_app.extensions["sakskydd.keyring"]
    old_id = keyring.primary_id
    good, bad = SealedNote(unit_id=None, body="ok"), SealedNote(unit_id=None, body="trasig")
    unit_session.add_all([good, bad])
    unit_session.commit()
    bad.body_ct = good.body_ct  # bound to another row: will not open
    unit_session.commit()
    new_key = services.add_key(unit_session, unit_provider, keyring)
    unit_session.commit()
    keyring = reload(unit_app, unit_session, unit_provider)
    services.promote_key(unit_session, keyring, new_key.id)
    unit_session.commit()
    keyring = reload(unit_app, unit_session, unit_provider)
    result = services.reencrypt(unit_session, keyring, batch_size=10, fields=note_fields())
    assert result.rows == 1
    assert result.failed == [("unit_test_sealed_note", "body", str(bad.id))]
    failure_events = events(unit_session, "crypto.decrypt_failed")
    assert len(failure_events) == 1 and failure_events[0].target_id == str(bad.id)
    assert "trasig" not in failure_events[0].payload
    with pytest.raises(KeyOperationError):
        services.disable_key(unit_session, keyring, old_id, fields=note_fields())


def test_only_one_primary_and_special_keys_are_never_rotated(
    unit_app: Flask, unit_session: Session, unit_provider: FileKEKProvider, unit_keyring: KeyRing
):
    blind = unit_session.scalar(select(CryptoKey).where(CryptoKey.purpose == KeyPurpose.BLIND_INDEX))
    with pytest.raises(KeyOperationError, match="never rotated"):
        services.promote_key(unit_session, unit_keyring, blind.id)
    with pytest.raises(KeyOperationError, match="never rotated"):
        services.disable_key(unit_session, unit_keyring, blind.id)
    with pytest.raises(KeyOperationError, match="only an enabled"):
        services.promote_key(unit_session, unit_keyring, unit_keyring.primary_id)
    with pytest.raises(KeyOperationError, match="only an enabled"):
        services.disable_key(unit_session, unit_keyring, unit_keyring.primary_id)
    with pytest.raises(KeyOperationError, match="no key"):
        services.promote_key(unit_session, unit_keyring, 12345)
    new_key = services.add_key(unit_session, unit_provider, unit_keyring)
    with pytest.raises(KeyOperationError, match="not loaded"):
        services.promote_key(unit_session, unit_keyring, new_key.id)
    keyring = KeyRing.load(unit_session, unit_provider)
    services.promote_key(unit_session, keyring, new_key.id)
    primaries = unit_session.scalar(
        select(func.count()).where(
            CryptoKey.purpose == KeyPurpose.DATA, CryptoKey.status == KeyStatus.PRIMARY
        )
    )
    assert primaries == 1


def test_rewrap_changes_the_kek_and_keeps_data_readable(
    unit_app: Flask, unit_session: Session, unit_provider: FileKEKProvider, tmp_path: Path
):
    keyring = unit_app.extensions["sakskydd.keyring"]
    note = SealedNote(unit_id=uuid.uuid4(), body="består")
    unit_session.add(note)
    unit_session.commit()
    data_before = unit_session.execute(text("SELECT body FROM unit_test_sealed_note")).scalar_one()
    new_provider = FileKEKProvider(generate_kek_file(tmp_path / "new-kek"))
    assert services.rewrap(unit_session, unit_provider, new_provider, keyring) == 3
    unit_session.commit()
    assert services.rewrap(unit_session, unit_provider, new_provider, keyring) == 0  # resumable
    unit_session.commit()
    with pytest.raises(KEKError):
        KeyRing.load(unit_session, unit_provider)
    unit_session.rollback()
    reload(unit_app, unit_session, new_provider)
    unit_session.expire_all()
    assert unit_session.get(SealedNote, note.id).body == "består"
    assert unit_session.execute(text("SELECT body FROM unit_test_sealed_note")).scalar_one() == data_before
    assert {k.kek_id for k in unit_session.scalars(select(CryptoKey))} == {new_provider.kek_id}
    assert len(events(unit_session, "keys.rewrapped")) == 2


def test_keys_cli_rotates_end_to_end(unit_app: Flask, unit_session: Session, tmp_path: Path):
    unit_session.add_all([SealedNote(unit_id=None, body=f"v{i}") for i in range(4)])
    make_user(unit_session, totp_secret=SECRET)
    unit_session.commit()
    runner = unit_app.test_cli_runner()
    status = runner.invoke(args=["keys", "status"])
    assert status.exit_code == 0, status.output
    assert "primary" in status.output
    added = runner.invoke(args=["keys", "add"])
    assert added.exit_code == 0, added.output
    new_id = unit_session.scalar(select(CryptoKey.id).where(CryptoKey.status == KeyStatus.ENABLED))
    assert runner.invoke(args=["keys", "promote", str(new_id)]).exit_code == 0
    old_id = unit_app.extensions["sakskydd.keyring"].primary_id
    refused = runner.invoke(args=["keys", "disable", str(old_id)])
    assert refused.exit_code != 0 and "Åtgärden avbröts" in refused.output
    done = runner.invoke(args=["keys", "reencrypt", "--batch-size", "2"])
    assert done.exit_code == 0, done.output
    assert "1 värden omkrypterade" in done.output  # the user's TOTP secret (the test table is not registered)
    disabled = runner.invoke(args=["keys", "disable", str(old_id)])
    assert disabled.exit_code == 0, disabled.output
    rewrapped = runner.invoke(args=["keys", "rewrap", "--new-kek-file", str(tmp_path / "kek2")])
    assert rewrapped.exit_code == 0, rewrapped.output
    assert (tmp_path / "kek2").stat().st_mode & 0o777 == 0o600
