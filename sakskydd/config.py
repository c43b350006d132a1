"""Settings from SAKSKYDD_* environment variables, validated at start.

Configuration is read only from the environment (or an explicit mapping in tests).
Every setting is documented in README.md. Validation fails closed: a production
configuration with a weak secret, debug on, or a missing key-encryption key refuses
to start.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENVIRONMENTS = ("production", "demo", "test")

# The law: a säkerhetsskyddsanalys is updated at least every second year (DOMAIN.md §1).
ANALYSIS_INTERVAL_CEILING_MONTHS = 24

# Highest classification a deployment may ever be assessed for (DOMAIN.md: never above
# BEGRÄNSAT HEMLIG). 0 = unclassified, 1 = BEGRÄNSAT HEMLIG.
CLASSIFICATION_CEILING = 1
CLASSIFICATION_NAMES = {
    "none": 0,
    "ingen": 0,
    "unclassified": 0,
    "begransat_hemlig": 1,
    "begränsat hemlig": 1,
    "restricted": 1,
}


class ConfigError(RuntimeError):
    """The configuration is missing or unsafe; the application refuses to start."""


def _secret_entropy_bits(value: str) -> float:
    if not value:
        return 0.0
    counts = Counter(value)
    per_char = -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())
    return per_char * len(value)


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class Settings:
    """The validated configuration of one application instance."""

    environment: str = "production"
    instance_path: Path = field(default_factory=lambda: Path("instance").resolve())
    database_url: str = ""
    secret_key: str = ""
    kek_file: Path | None = None
    kek_b64: str | None = None
    signing_key_file: Path | None = None
    smtp_url: str | None = None
    mail_from: str = "sakskydd@localhost"
    base_url: str = "http://localhost:8000"
    debug: bool = False
    max_classification: int = 0
    ratelimit_storage_url: str = "memory://"
    ratelimit_login: str = "20 per minute;200 per hour"
    ratelimit_enabled: bool = True
    trusted_proxies: int = 0
    argon2_profile: str = "production"
    login_backoff_seconds: int = 2
    session_idle_seconds: int = 15 * 60
    session_absolute_seconds: int = 10 * 3600
    pending_login_seconds: int = 5 * 60
    activation_hours: int = 24
    audit_checkpoint_every: int = 1000
    max_content_length: int = 1024 * 1024
    hsts: bool = True
    analysis_interval_months: int = 12
    reminder_lead_days: int = 30  # remind this long before a due date
    notice_reminder_days: int = 7  # remind unacknowledged holder notices this often
    prompt_duty_days: int = 7  # "utan dröjsmål": the deadline of a procurement's prompt duties
    # Supplier follow-up every N months at SUA nivå 1, 2, 3 and for a säkerhetsskyddsöverenskommelse.
    follow_up_months: tuple[int, int, int, int] = (6, 12, 12, 24)
    # Omkontroll of klass 1 and 2 every N years (säkerhetsskyddsförordningen: at least every fifth).
    vetting_recheck_years: int = 5
    # Retention (gallring) per record type: days after a vetting case closed before its personal
    # data is destroyed (the city archive authority sets the values).
    retention_vetting_closed_days: int = 5 * 365
    retention_vetting_not_approved_days: int = 365
    # The yearly follow-up is due on this (month, day) of its year: the city reports it with
    # tertialrapport 2 (the tertial ends 31 August; the report is made in September).
    followup_due: tuple[int, int] = (9, 15)
    # The trusted public key the auditors' workspace verifies checkpoint signatures with, so that
    # the web process never reads the signing key. Default: the signing key's path + ".pub",
    # written when the key is generated (`sakskydd init`, `sakskydd audit public-key`).
    audit_public_key_file: Path | None = None
    # The chef's picture is stored when compiled (oversight/stored.py) and compiled again when
    # something has changed since. Within this many seconds of its compilation a stored picture
    # is shown even after a change, marked as such; 0 (default): always compiled again. For
    # national scale, with `sakskydd oversight refresh` on a timer (README, "Operations").
    picture_max_age_seconds: int = 0

    def __post_init__(self) -> None:
        if self.audit_public_key_file is None and self.signing_key_file is not None:
            self.audit_public_key_file = Path(str(self.signing_key_file) + ".pub")

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the SAKSKYDD_* variables; raises ConfigError."""
        env = os.environ if env is None else env

        def get(name: str, default: str | None = None) -> str | None:
            value = env.get("SAKSKYDD_" + name)
            return default if value is None or value == "" else value

        environment = (get("ENV", "production") or "production").lower()
        if environment not in ENVIRONMENTS:
            raise ConfigError(f"SAKSKYDD_ENV must be one of {', '.join(ENVIRONMENTS)}")
        instance_path = Path(get("INSTANCE_PATH", "instance") or "instance").resolve()
        database_url = get("DATABASE_URL") or f"sqlite:///{instance_path / 'sakskydd.db'}"
        kek_b64 = get("KEK")
        kek_file = None if kek_b64 else Path(get("KEK_FILE") or instance_path / "kek")
        classification_raw = (get("MAX_CLASSIFICATION", "none") or "none").strip().lower()
        if classification_raw not in CLASSIFICATION_NAMES:
            raise ConfigError(
                "SAKSKYDD_MAX_CLASSIFICATION must be 'none' or 'begransat_hemlig'; "
                "no level above BEGRÄNSAT HEMLIG can be configured"
            )
        settings = cls(
            environment=environment,
            instance_path=instance_path,
            database_url=database_url,
            secret_key=get("SECRET_KEY", "") or "",
            kek_file=kek_file,
            kek_b64=kek_b64,
            signing_key_file=Path(get("SIGNING_KEY_FILE") or instance_path / "audit-signing.key"),
            smtp_url=get("SMTP_URL"),
            mail_from=get("MAIL_FROM", "sakskydd@localhost") or "sakskydd@localhost",
            base_url=(get("BASE_URL", "http://localhost:8000") or "").rstrip("/"),
            debug=_bool(get("DEBUG")),
            max_classification=CLASSIFICATION_NAMES[classification_raw],
            ratelimit_storage_url=get("RATELIMIT_STORAGE_URL", "memory://") or "memory://",
            ratelimit_login=get("RATELIMIT_LOGIN", cls.ratelimit_login) or cls.ratelimit_login,
            trusted_proxies=_int(get("TRUSTED_PROXIES"), 0, "TRUSTED_PROXIES"),
            argon2_profile=get("ARGON2_PROFILE", "production") or "production",
            login_backoff_seconds=_int(get("LOGIN_BACKOFF_SECONDS"), 2, "LOGIN_BACKOFF_SECONDS"),
            hsts=_bool(get("HSTS"), default=environment == "production"),
            analysis_interval_months=_int(get("ANALYSIS_INTERVAL_MONTHS"), 12, "ANALYSIS_INTERVAL_MONTHS"),
            reminder_lead_days=_int(get("REMINDER_LEAD_DAYS"), 30, "REMINDER_LEAD_DAYS"),
            notice_reminder_days=_int(get("NOTICE_REMINDER_DAYS"), 7, "NOTICE_REMINDER_DAYS"),
            prompt_duty_days=_int(get("PROMPT_DUTY_DAYS"), 7, "PROMPT_DUTY_DAYS"),
            follow_up_months=_months(get("FOLLOW_UP_MONTHS"), "FOLLOW_UP_MONTHS"),
            vetting_recheck_years=_int(get("VETTING_RECHECK_YEARS"), 5, "VETTING_RECHECK_YEARS"),
            retention_vetting_closed_days=_int(
                get("RETENTION_VETTING_CLOSED_DAYS"), 5 * 365, "RETENTION_VETTING_CLOSED_DAYS"
            ),
            retention_vetting_not_approved_days=_int(
                get("RETENTION_VETTING_NOT_APPROVED_DAYS"), 365, "RETENTION_VETTING_NOT_APPROVED_DAYS"
            ),
            followup_due=_month_day(get("FOLLOWUP_DUE"), "FOLLOWUP_DUE"),
            picture_max_age_seconds=_int(get("PICTURE_MAX_AGE_SECONDS"), 0, "PICTURE_MAX_AGE_SECONDS"),
        )
        if get("AUDIT_PUBLIC_KEY_FILE"):
            settings.audit_public_key_file = Path(get("AUDIT_PUBLIC_KEY_FILE") or "")
        if environment in ("demo", "test") and not settings.secret_key:
            settings.secret_key = _instance_secret(instance_path)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse unsafe combinations; raises ConfigError."""
        if self.environment not in ENVIRONMENTS:
            raise ConfigError("unknown environment")
        if self.max_classification > CLASSIFICATION_CEILING:
            raise ConfigError("no level above BEGRÄNSAT HEMLIG can be configured")
        if not 1 <= self.analysis_interval_months <= ANALYSIS_INTERVAL_CEILING_MONTHS:
            raise ConfigError(
                "SAKSKYDD_ANALYSIS_INTERVAL_MONTHS must be 1–24: the law requires an update at least "
                "every second year"
            )
        if self.reminder_lead_days < 0 or self.notice_reminder_days < 1:
            raise ConfigError("reminder intervals must be positive")
        if not 0 <= self.picture_max_age_seconds <= 24 * 3600:
            raise ConfigError("SAKSKYDD_PICTURE_MAX_AGE_SECONDS must be 0–86400 (at most a day)")
        if not 1 <= self.prompt_duty_days <= 30:
            raise ConfigError("SAKSKYDD_PROMPT_DUTY_DAYS must be 1–30: the duties are due without delay")
        if len(self.follow_up_months) != 4 or not all(1 <= m <= 36 for m in self.follow_up_months):
            raise ConfigError(
                "SAKSKYDD_FOLLOW_UP_MONTHS must be four numbers 1–36 (nivå 1, 2, 3, överenskommelse)"
            )
        if not 1 <= self.vetting_recheck_years <= 5:
            raise ConfigError(
                "SAKSKYDD_VETTING_RECHECK_YEARS must be 1–5: klass 1 and 2 are re-checked at least "
                "every fifth year"
            )
        if not (
            1 <= self.retention_vetting_closed_days <= 36500
            and 1 <= self.retention_vetting_not_approved_days <= 36500
        ):
            raise ConfigError("SAKSKYDD_RETENTION_VETTING_*_DAYS must be 1–36500 days")
        if self.is_production:
            if len(self.secret_key) < 32 or _secret_entropy_bits(self.secret_key) < 128:
                raise ConfigError(
                    "SAKSKYDD_SECRET_KEY is missing or weak: use at least 32 random characters "
                    "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
            if self.debug:
                raise ConfigError("debug cannot be enabled in the production configuration")
            if self.argon2_profile != "production":
                raise ConfigError("the cheap Argon2 profile is for tests only")
        if self.debug and not self.database_url.startswith("sqlite"):
            raise ConfigError("debug cannot be enabled with a production database")
        if not self.secret_key:
            raise ConfigError("SAKSKYDD_SECRET_KEY is missing")
        if self.kek_b64 is None and self.kek_file is None:
            raise ConfigError("no key-encryption key configured (SAKSKYDD_KEK_FILE or SAKSKYDD_KEK)")


def _months(raw: str | None, name: str) -> tuple[int, int, int, int]:
    """Four comma-separated month counts, e.g. "6,12,12,24"."""
    if raw is None:
        return Settings.follow_up_months
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise ConfigError(f"SAKSKYDD_{name} must be four whole numbers separated by commas, e.g. 6,12,12,24")
    a, b, c, d = (int(p) for p in parts)
    return (a, b, c, d)


def _month_day(raw: str | None, name: str) -> tuple[int, int]:
    """A day of the year as MM-DD, e.g. "09-15" (29 February is refused: not every year has it)."""
    if raw is None:
        return Settings.followup_due
    month, _, day = raw.strip().partition("-")
    if not (month.isdigit() and day.isdigit()):
        raise ConfigError(f"SAKSKYDD_{name} must be a day of the year as MM-DD, e.g. 09-15")
    try:
        dt.date(2025, int(month), int(day))
    except ValueError:
        raise ConfigError(f"SAKSKYDD_{name} must be a day that exists every year (MM-DD)") from None
    return (int(month), int(day))


def _int(raw: str | None, default: int, name: str) -> int:
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"SAKSKYDD_{name} must be a whole number") from None


def _instance_secret(instance_path: Path) -> str:
    """Demo and test only: a random secret kept in the instance folder (mode 0600)."""
    import secrets

    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
