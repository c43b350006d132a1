"""Security notices to a user: in-app, and by e-mail where the kind warrants it."""

from __future__ import annotations

import uuid
from typing import Any

from flask import render_template
from sqlalchemy import func, select, update

from sakskydd.accounts.models import User
from sakskydd.db import utcnow
from sakskydd.extensions import db
from sakskydd.notifications.mail import send_mail
from sakskydd.notifications.models import Notice, NoticeKind

EMAILED_KINDS = frozenset(
    {
        NoticeKind.NEW_LOGIN_SOURCE,
        NoticeKind.PASSWORD_CHANGED,
        NoticeKind.MFA_CHANGED,
        NoticeKind.MFA_RESET,
        NoticeKind.RECOVERY_CODE_USED,
        NoticeKind.RECOVERY_CODES_REGENERATED,
        NoticeKind.ACCOUNT_LOCKED,
        NoticeKind.ROLE_GRANTED,
        NoticeKind.ROLE_REVOKED,
        NoticeKind.ACTIVATION_REISSUED,
    }
)


def notify_user(user: User, kind: NoticeKind, params: dict[str, Any] | None = None) -> Notice:
    """Add a notice for the user and, for credential and login events, send an e-mail."""
    notice = Notice(user_id=user.id, kind=kind, params=params or {})
    db.add(notice)
    if kind in EMAILED_KINDS and user.email:
        body = render_template("mail/notice.txt", user=user, kind=kind.value, params=params or {})
        send_mail(user.email, "Säkerhetsmeddelande från sakskydd", body)
    return notice


def unread_notices(user_id: uuid.UUID, limit: int = 20) -> list[Notice]:
    return list(
        db.scalars(
            select(Notice)
            .where(Notice.user_id == user_id, Notice.read_at.is_(None))
            .order_by(Notice.created_at.desc())
            .limit(limit)
        )
    )


def count_unread(user_id: uuid.UUID) -> int:
    return int(
        db.scalar(select(func.count()).where(Notice.user_id == user_id, Notice.read_at.is_(None))) or 0
    )


def mark_notices_read(user_id: uuid.UUID) -> int:
    result = db.execute(
        update(Notice).where(Notice.user_id == user_id, Notice.read_at.is_(None)).values(read_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
