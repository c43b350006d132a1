"""Key-encryption-key providers: file modes, formats, wrapping."""

from __future__ import annotations

import base64
import os
import secrets
import stat
from pathlib import Path

import pytest

from sakskydd.config import Settings
from sakskydd.crypto.errors import KEKError
from sakskydd.crypto.providers import (
    EnvKEKProvider,
    FileKEKProvider,
    KEKProvider,
    generate_kek_file,
    provider_from_settings,
)


def test_generated_kek_file_is_private_and_never_overwritten(tmp_path: Path):
    path = generate_kek_file(tmp_path / "keys" / "kek")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(path.read_text())) == 32
    with pytest.raises(FileExistsError):
        generate_kek_file(path)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666])
def test_kek_file_readable_by_group_or_others_is_refused(tmp_path: Path, mode: int):
    path = generate_kek_file(tmp_path / "kek")
    path.chmod(mode)
    with pytest.raises(KEKError, match="group or others"):
        FileKEKProvider(path)


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_kek_file_private_to_its_owner_is_accepted(tmp_path: Path, mode: int):
    path = generate_kek_file(tmp_path / "kek")
    path.chmod(mode)
    assert isinstance(FileKEKProvider(path), KEKProvider)


def test_missing_or_malformed_kek_file_is_refused(tmp_path: Path):
    with pytest.raises(KEKError, match="does not exist"):
        FileKEKProvider(tmp_path / "absent")
    path = tmp_path / "short"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, base64.b64encode(b"too short"))
    os.close(fd)
    with pytest.raises(KEKError, match="32 bytes"):
        FileKEKProvider(path)
    with pytest.raises(KEKError, match="base64"):
        EnvKEKProvider("not base64 at all!")


def test_wrapping_round_trips_and_is_bound_to_key_id_and_kek():
    kek = base64.b64encode(secrets.token_bytes(32)).decode()
    provider = EnvKEKProvider(kek)
    data_key = secrets.token_bytes(32)
    wrapped = provider.wrap(17, data_key)
    assert data_key not in wrapped
    assert provider.unwrap(17, wrapped) == data_key
    with pytest.raises(KEKError):
        provider.unwrap(18, wrapped)  # the key id is associated data
    with pytest.raises(KEKError):
        EnvKEKProvider(base64.b64encode(secrets.token_bytes(32)).decode()).unwrap(17, wrapped)


def test_same_kek_from_file_and_environment_has_the_same_fingerprint(tmp_path: Path):
    path = generate_kek_file(tmp_path / "kek")
    from_file = FileKEKProvider(path)
    from_env = EnvKEKProvider(path.read_text())
    assert from_file.kek_id == from_env.kek_id
    assert len(from_file.kek_id) == 32
    assert path.read_text().strip() not in repr(from_file)


def test_provider_from_settings_prefers_the_environment_variable(tmp_path: Path):
    kek_file = generate_kek_file(tmp_path / "kek")
    env_kek = base64.b64encode(secrets.token_bytes(32)).decode()
    settings = Settings(environment="test", secret_key="s", kek_file=kek_file, kek_b64=env_kek)
    assert isinstance(provider_from_settings(settings), EnvKEKProvider)
    settings.kek_b64 = None
    assert isinstance(provider_from_settings(settings), FileKEKProvider)
    settings.kek_file = None
    with pytest.raises(KEKError):
        provider_from_settings(settings)
