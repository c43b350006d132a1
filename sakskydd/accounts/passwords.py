"""Password hashing (Argon2id) and the password rules of SECURITY.md."""

from __future__ import annotations

import unicodedata
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 15
MAX_LENGTH = 1024


def make_hasher(profile: str) -> PasswordHasher:
    """`production` uses argon2-cffi's defaults (RFC 9106 low-memory); `test` is cheap on purpose."""
    if profile == "production":
        return PasswordHasher()
    if profile == "test":
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    raise ValueError(f"unknown Argon2 profile {profile!r}")


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


class Passwords:
    """Hashing with a dummy verify, so every failure costs one Argon2 verification."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher
        self._dummy_hash = hasher.hash("dummy password that never matches anything")
        self.verifications = 0  # observable count, used by the equal-timing tests

    def hash(self, password: str) -> str:
        return self.hasher.hash(normalise(password))

    def verify(self, password_hash: str | None, password: str) -> bool:
        self.verifications += 1
        candidate = normalise(password[: MAX_LENGTH * 4])
        try:
            return (
                self.hasher.verify(password_hash or self._dummy_hash, candidate) and password_hash is not None
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def dummy_verify(self) -> None:
        self.verify(None, "x")

    def needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files("sakskydd.accounts").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip())


def _squash(value: str) -> str:
    return "".join(ch for ch in normalise(value).casefold() if ch.isalnum())


def password_problems(password: str, *, forbidden_words: tuple[str, ...] = ()) -> list[str]:
    """Swedish messages for every rule the password breaks (empty when it is acceptable)."""
    problems: list[str] = []
    if len(password) > MAX_LENGTH:
        return [f"Lösenordet får vara högst {MAX_LENGTH} tecken."]
    value = normalise(password)
    if len(value) < MIN_LENGTH:
        problems.append(f"Lösenordet måste vara minst {MIN_LENGTH} tecken långt.")
    folded = value.casefold()
    squashed = _squash(value)
    if folded in common_passwords() or squashed in common_passwords() or len(set(squashed)) <= 2:
        problems.append("Lösenordet är för vanligt eller för enkelt. Välj ett annat, gärna en mening.")
    for word in forbidden_words:
        word_squashed = _squash(word)
        if len(word_squashed) >= 4 and word_squashed in squashed:
            problems.append(
                "Lösenordet får inte innehålla ditt namn, användarnamn eller organisationens namn."
            )
            break
    return problems
