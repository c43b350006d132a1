"""Field-level encryption: KEK providers, the key ring, sealed fields and blind indexes.

SECURITY.md, "Field-level encryption"; operations in docs/key-management.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sakskydd.crypto.errors import DecryptionError, KEKError, KeyOperationError, KeyRingError
from sakskydd.crypto.fields import KEYRING_EXTENSION, current_keyring
from sakskydd.crypto.keyring import KeyRing, ensure_initial_keys
from sakskydd.crypto.providers import provider_from_settings

if TYPE_CHECKING:
    from flask import Flask

__all__ = [
    "KEK_PROVIDER_EXTENSION",
    "KEYRING_EXTENSION",
    "DecryptionError",
    "KEKError",
    "KeyOperationError",
    "KeyRing",
    "KeyRingError",
    "current_keyring",
    "ensure_initial_keys",
    "init_app",
    "provider_from_settings",
]

KEK_PROVIDER_EXTENSION = "sakskydd.kek_provider"


def init_app(app: Flask) -> KeyRing:
    """Load the key ring from the database into app.extensions; raises KeyRingError (fails closed)."""
    from sakskydd.extensions import get_database

    settings = app.config["SAKSKYDD_SETTINGS"]
    provider = provider_from_settings(settings)
    session = get_database(app).session_factory()
    try:
        keyring = KeyRing.load(session, provider)
    finally:
        session.close()
    app.extensions[KEK_PROVIDER_EXTENSION] = provider
    app.extensions[KEYRING_EXTENSION] = keyring
    return keyring
