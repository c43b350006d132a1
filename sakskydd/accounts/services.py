"""Account services: login stages, TOTP, recovery codes, activation, password and MFA changes.

Services take explicit arguments and never read `flask.request`; they change models, record
the audit event in the same transaction and flush. The caller commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass

import pyotp
from sqlalchemy import delete, or_, select, update

from sakskydd import audit
from sakskydd.accounts.models import ActivationToken, KnownLoginSource, RecoveryCode, User
from sakskydd.accounts.passwords import Passwords, password_problems
from sakskydd.accounts.sessions import end_user_sessions
from sakskydd.audit.tags import Event
from sakskydd.db import utcnow
from sakskydd.extensions import db
from sakskydd.notifications.models import NoticeKind
from sakskydd.notifications.services import notify_user
from sakskydd.organisations.models import Operator

TOTP_STEP = 30
TOTP_ISSUER = "sakskydd"
RECOVERY_CODE_COUNT = 10
BACKOFF_FROM = 5
LOCK_AT = 20
LOCK_MINUTES = 15
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


class AccountError(Exception):
    """A rule of the account flows was broken; the message is Swedish and safe to show."""


class PasswordRejected(AccountError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


class TokenInvalid(AccountError):
    pass


@dataclass(frozen=True)
class PasswordOutcome:
    user: User | None
    reason: str  # "ok", "unknown", "inactive", "locked", "backoff", "wrong"

    @property
    def ok(self) -> bool:
        return self.reason == "ok"


def normalise_username(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().casefold()[:200]


def _source_hash(user_id: uuid.UUID, ip: str, user_agent: str, key: bytes) -> bytes:
    return hmac.new(key, f"{user_id}|{ip}|{user_agent[:200]}".encode(), hashlib.sha256).digest()


def backoff_until(user: User, base_seconds: int) -> dt.datetime | None:
    """From 5 consecutive failures, each attempt waits base·2^(n-5) seconds (at most 5 min)."""
    if user.failed_logins < BACKOFF_FROM or user.last_failed_at is None:
        return None
    delay = min(base_seconds * 2 ** (user.failed_logins - BACKOFF_FROM), 300)
    return user.last_failed_at + dt.timedelta(seconds=delay)


def check_password_login(
    username: str,
    password: str,
    *,
    passwords: Passwords,
    backoff_seconds: int,
    now: dt.datetime | None = None,
) -> PasswordOutcome:
    """First login stage. Exactly one Argon2 verification happens whatever the outcome."""
    now = now or utcnow()
    user = db.scalar(select(User).where(User.username == normalise_username(username)))
    if user is None:
        passwords.dummy_verify()
        return _fail(None, "unknown", now)
    if not user.is_active or user.password_hash is None:
        passwords.dummy_verify()
        return _fail(user, "inactive", now, count=False)
    if user.locked_until is not None and user.locked_until > now:
        passwords.dummy_verify()
        return _fail(user, "locked", now, count=False)
    waiting = backoff_until(user, backoff_seconds)
    if waiting is not None and waiting > now:
        passwords.dummy_verify()
        return _fail(user, "backoff", now, count=False)
    if not passwords.verify(user.password_hash, password):
        return _fail(user, "wrong", now)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash(password)
    return PasswordOutcome(user, "ok")


def _fail(user: User | None, reason: str, now: dt.datetime, *, count: bool = True) -> PasswordOutcome:
    audit.record(
        Event.AUTH_LOGIN_FAILURE,
        outcome="failure",
        target_type="user_account" if user else None,
        target_id=str(user.id) if user else None,
        detail={"reason": reason, "stage": "password"},
    )
    if user is not None and count:
        register_failure(user, now)
    return PasswordOutcome(user, reason)


def register_failure(user: User, now: dt.datetime) -> None:
    """Count a failed factor atomically; lock for 15 minutes at 20 in a row."""
    db.execute(
        update(User)
        .where(User.id == user.id)
        .values(failed_logins=User.failed_logins + 1, last_failed_at=now)
        .execution_options(synchronize_session=False)
    )
    failures = db.scalar(select(User.failed_logins).where(User.id == user.id)) or 0
    db.refresh(user)
    if failures >= LOCK_AT and (user.locked_until is None or user.locked_until <= now):
        db.execute(
            update(User)
            .where(User.id == user.id)
            .values(locked_until=now + dt.timedelta(minutes=LOCK_MINUTES))
            .execution_options(synchronize_session=False)
        )
        db.refresh(user)
        audit.record(Event.AUTH_LOGIN_LOCKED, outcome="failure", target=user)
        notify_user(user, NoticeKind.ACCOUNT_LOCKED, {"minutes": LOCK_MINUTES})


def second_factor_blocked(user: User, backoff_seconds: int, now: dt.datetime | None = None) -> bool:
    now = now or utcnow()
    if not user.is_active or (user.locked_until is not None and user.locked_until > now):
        return True
    waiting = backoff_until(user, backoff_seconds)
    return waiting is not None and waiting > now


def _current_step(now: dt.datetime) -> int:
    return int(now.timestamp()) // TOTP_STEP


def _totp_matches(secret: str, code: str, now: dt.datetime) -> int | None:
    """The step (±1 around server time) whose code equals `code`, compared in constant time."""
    code = code.replace(" ", "").strip()
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = _current_step(now)
    found = None
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * TOTP_STEP), code):
            found = step
    return found


def _claim_step(user: User, step: int) -> bool:
    """Compare-and-set on the last used step: of two requests with one code, exactly one wins."""
    result = db.execute(
        update(User)
        .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def verify_totp(user: User, code: str, *, now: dt.datetime | None = None) -> bool:
    """Second factor with the enrolled secret; a code can be used once."""
    now = now or utcnow()
    secret = user.totp_secret if user.totp_enrolled_at else None
    if not secret:
        return False
    step = _totp_matches(secret, code, now)
    return step is not None and _claim_step(user, step)


def complete_login(user: User, *, ip: str, user_agent: str, source_key: bytes, method: str) -> None:
    """Both factors done: reset the counter, remember the source, notify on a new one."""
    now = utcnow()
    db.execute(
        update(User)
        .where(User.id == user.id)
        .values(failed_logins=0, last_failed_at=None, locked_until=None, last_login_at=now)
        .execution_options(synchronize_session=False)
    )
    db.refresh(user)
    source = _source_hash(user.id, ip, user_agent, source_key)
    known = db.scalar(
        select(KnownLoginSource).where(
            KnownLoginSource.user_id == user.id, KnownLoginSource.source_hash == source
        )
    )
    if known is None:
        first_ever = db.scalar(
            select(KnownLoginSource.id).where(KnownLoginSource.user_id == user.id).limit(1)
        )
        db.add(KnownLoginSource(user_id=user.id, source_hash=source, first_seen_at=now, last_seen_at=now))
        if first_ever is not None:
            notify_user(user, NoticeKind.NEW_LOGIN_SOURCE, {"at": now.isoformat(timespec="minutes")})
    else:
        known.last_seen_at = now
    audit.record(
        Event.AUTH_LOGIN_SUCCESS,
        actor=user.id,
        target_type="user_account",
        target_id=str(user.id),
        detail={"method": method},
    )


# --- recovery codes ---------------------------------------------------------------------------


def _normalise_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.casefold() if ch.isalnum())[:64]


def format_recovery_code(raw: str) -> str:
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def generate_recovery_codes(user: User, passwords: Passwords) -> list[str]:
    """Ten new 64-bit single-use codes; the old set stops working. Returns the plain codes once."""
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [secrets.token_hex(8) for _ in range(RECOVERY_CODE_COUNT)]
    for code in codes:
        db.add(RecoveryCode(user_id=user.id, code_hash=passwords.hasher.hash(code)))
    return [format_recovery_code(code) for code in codes]


def use_recovery_code(user: User, code: str, passwords: Passwords) -> bool:
    """Consume one unused code (compare-and-set, so a code works once even in a race)."""
    candidate = _normalise_recovery_code(code)
    rows = list(
        db.scalars(
            select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
    )
    if not rows:
        passwords.dummy_verify()
        return False
    matched: RecoveryCode | None = None
    for row in rows:
        if passwords.verify(row.code_hash, candidate) and matched is None:
            matched = row
    if matched is None:
        return False
    result = db.execute(
        update(RecoveryCode)
        .where(RecoveryCode.id == matched.id, RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    remaining = len(rows) - 1
    audit.record(
        Event.AUTH_RECOVERY_USED,
        actor=user.id,
        target_type="user_account",
        target_id=str(user.id),
        detail={"remaining": remaining},
    )
    notify_user(user, NoticeKind.RECOVERY_CODE_USED, {"remaining": remaining})
    return True


def remaining_recovery_codes(user_id: uuid.UUID) -> int:
    return len(
        list(
            db.scalars(
                select(RecoveryCode.id).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
            )
        )
    )


# --- TOTP enrolment ---------------------------------------------------------------------------


def start_totp_enrolment(user: User) -> str:
    """A fresh pending secret; shown once. The active secret (if any) keeps working until confirmed."""
    secret = pyotp.random_base32(length=32)
    user.totp_pending_secret = secret
    return secret


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER)


def confirm_totp_enrolment(
    user: User, code: str, passwords: Passwords, *, now: dt.datetime | None = None
) -> list[str]:
    """Activate the pending secret when `code` matches it; returns new recovery codes."""
    now = now or utcnow()
    pending = user.totp_pending_secret
    if not pending:
        raise AccountError("Det finns ingen påbörjad registrering. Börja om.")
    step = _totp_matches(pending, code, now)
    if step is None:
        raise AccountError("Koden stämmer inte. Kontrollera klockan i din app och försök igen.")
    was_enrolled = user.totp_enrolled_at is not None
    user.totp_secret = pending
    user.totp_pending_secret = None
    user.totp_enrolled_at = now
    user.totp_last_step = step
    codes = generate_recovery_codes(user, passwords)
    audit.record(
        Event.AUTH_MFA_ENROLLED,
        actor=user.id,
        target_type="user_account",
        target_id=str(user.id),
        changed=["totp_secret", "recovery_codes"],
        detail={"replaced": was_enrolled},
    )
    if was_enrolled:
        notify_user(user, NoticeKind.MFA_CHANGED, {"at": now.isoformat(timespec="minutes")})
    return codes


def regenerate_recovery_codes(user: User, passwords: Passwords) -> list[str]:
    codes = generate_recovery_codes(user, passwords)
    audit.record(
        Event.AUTH_RECOVERY_REGENERATED,
        actor=user.id,
        target_type="user_account",
        target_id=str(user.id),
        changed=["recovery_codes"],
    )
    notify_user(user, NoticeKind.RECOVERY_CODES_REGENERATED, {})
    return codes


# --- passwords and activation -----------------------------------------------------------------


def forbidden_words_for(user: User) -> tuple[str, ...]:
    names = [user.username, user.display_name, *user.display_name.split(), user.email.split("@")[0]]
    names.extend(db.scalars(select(Operator.name)))
    names.extend(["stockholm", "stockholms stad", "sakskydd"])
    return tuple(name for name in names if name)


def set_password(user: User, new_password: str, passwords: Passwords) -> None:
    problems = password_problems(new_password, forbidden_words=forbidden_words_for(user))
    if problems:
        raise PasswordRejected(problems)
    user.password_hash = passwords.hash(new_password)
    user.password_changed_at = utcnow()


def change_password(
    user: User, current: str, new_password: str, passwords: Passwords, *, keep_session: uuid.UUID | None
) -> int:
    """Change one's own password; every other session ends. Returns how many ended."""
    if not passwords.verify(user.password_hash, current):
        raise AccountError("Nuvarande lösenord stämmer inte.")
    set_password(user, new_password, passwords)
    ended = end_user_sessions(user.id, keep=keep_session)
    audit.record(
        Event.AUTH_PASSWORD_CHANGED,
        actor=user.id,
        target_type="user_account",
        target_id=str(user.id),
        changed=["password_hash"],
        detail={"sessions_ended": ended},
    )
    notify_user(user, NoticeKind.PASSWORD_CHANGED, {"at": utcnow().isoformat(timespec="minutes")})
    return ended


def _hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def issue_activation_token(user: User, *, actor_id: uuid.UUID | None, hours: int) -> str:
    """A 256-bit single-use token (stored hashed); earlier unused tokens for the user stop working."""
    now = utcnow()
    db.execute(
        update(ActivationToken)
        .where(ActivationToken.user_id == user.id, ActivationToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    token = secrets.token_urlsafe(32)
    db.add(
        ActivationToken(
            user_id=user.id,
            token_hash=_hash_token(token),
            expires_at=now + dt.timedelta(hours=hours),
            created_by_id=actor_id,
        )
    )
    return token


def find_activation(token: str, now: dt.datetime | None = None) -> ActivationToken | None:
    now = now or utcnow()
    if not token or len(token) > 100:
        return None
    row = db.scalar(select(ActivationToken).where(ActivationToken.token_hash == _hash_token(token)))
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    return row


def activate_account(token: str, new_password: str, passwords: Passwords) -> User:
    """Set the first password with a valid link; the link is used up (compare-and-set)."""
    row = find_activation(token)
    if row is None:
        raise TokenInvalid("Länken är ogiltig, redan använd eller för gammal. Be administratören om en ny.")
    user = db.get(User, row.user_id)
    if user is None or not user.is_active:
        raise TokenInvalid("Länken är ogiltig, redan använd eller för gammal. Be administratören om en ny.")
    had_password = user.password_hash is not None
    # The password's rules first (a refused one leaves the link unused), then the link is claimed
    # before the user row is touched: of parallel uses of one link exactly one sets its password
    # and the others find the link used, instead of failing on the user's version column (500).
    problems = password_problems(new_password, forbidden_words=forbidden_words_for(user))
    if problems:
        raise PasswordRejected(problems)
    result = db.execute(
        update(ActivationToken)
        .where(ActivationToken.id == row.id, ActivationToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise TokenInvalid("Länken är ogiltig, redan använd eller för gammal. Be administratören om en ny.")
    set_password(user, new_password, passwords)
    # A new password through activation replaces any earlier factor (e.g. after an MFA reset).
    user.totp_pending_secret = None
    end_user_sessions(user.id)
    audit.record(
        Event.AUTH_ACTIVATION_USED,
        actor=user.id,
        target_type="user_account",
        target_id=str(user.id),
        changed=["password_hash"],
    )
    if had_password:
        # A reissued link replaced an existing password: the owner is told (ASVS 6.3.7).
        notify_user(user, NoticeKind.PASSWORD_CHANGED, {"at": utcnow().isoformat(timespec="minutes")})
    return user
