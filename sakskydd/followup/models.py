"""Årlig uppföljning: a questionnaire per unit and year, answered by the samordnare and
reviewed by the chef; the chef keeps the questions (every save a version)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sakskydd.crypto.fields import EncryptedBytes, encrypted_field
from sakskydd.db import Base, CreatedAt, UUIDPrimaryKey


class FollowUpStatus(enum.StrEnum):
    DRAFT = "utkast"
    SUBMITTED = "inskickad"
    RETURNED = "aterremitterad"
    REVIEWED = "granskad"


class Answer(enum.StrEnum):
    YES = "ja"
    PARTLY = "delvis"
    NO = "nej"
    NOT_APPLICABLE = "ej_tillampligt"


class FollowUpQuestionnaire(UUIDPrimaryKey, CreatedAt, Base):
    """The questions of the yearly follow-up, per operator, kept by the chef; every save is a
    version. `questions` is a list of {"key": str | None, "text": str}: a question with a key
    the system knows (followup/questions.py) is prefilled from the registers."""

    __tablename__ = "followup_questionnaire"
    __table_args__ = (UniqueConstraint("operator_id", "version_no"),)

    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operator.id"))
    version_no: Mapped[int] = mapped_column(Integer)
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))

    created_by = relationship("User")


class AnnualFollowUp(UUIDPrimaryKey, CreatedAt, Base):
    """One unit's follow-up for one year. The questions are copied in when it is opened, so a
    later version of the questionnaire never changes what was answered."""

    __tablename__ = "annual_followup"
    __table_args__ = (
        UniqueConstraint("unit_id", "year"),
        Index("ix_annual_followup_status_due", "status", "due_on"),
    )
    __encrypted__ = ("review_comment",)

    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    year: Mapped[int] = mapped_column(Integer)
    questionnaire_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("followup_questionnaire.id"))
    questionnaire_version: Mapped[int] = mapped_column(Integer, default=0)  # 0: the built-in questions
    status: Mapped[FollowUpStatus] = mapped_column(
        Enum(FollowUpStatus, native_enum=False, length=20), default=FollowUpStatus.DRAFT
    )
    due_on: Mapped[dt.date]
    classification: Mapped[int] = mapped_column(SmallInteger, default=0)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    submitted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[dt.datetime | None]
    reviewed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[dt.datetime | None]
    # The chef's comment when returning or accepting (neutral text, encrypted).
    review_comment_ct: Mapped[bytes | None] = mapped_column("review_comment", EncryptedBytes)
    updated_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    review_comment = encrypted_field("review_comment_ct", table="annual_followup", column="review_comment")

    unit = relationship("OrgUnit")
    answers: Mapped[list[FollowUpAnswer]] = relationship(
        back_populates="followup", order_by="FollowUpAnswer.position", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}


class FollowUpAnswer(UUIDPrimaryKey, CreatedAt, Base):
    """One question of a follow-up: the question as asked, what the system knew when the
    follow-up was opened (`prefill`, plain facts such as "Analys 2026 fastställd"), the
    samordnare's answer and comment, and the chef's comment."""

    __tablename__ = "followup_answer"
    __table_args__ = (UniqueConstraint("followup_id", "position"),)
    __encrypted__ = ("comment", "chef_comment")

    followup_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("annual_followup.id"))
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    position: Mapped[int] = mapped_column(Integer)
    question_key: Mapped[str | None] = mapped_column(String(40))
    question: Mapped[str] = mapped_column(String(300))
    prefill: Mapped[str | None] = mapped_column(String(300))
    suggested: Mapped[Answer | None] = mapped_column(Enum(Answer, native_enum=False, length=20))
    answer: Mapped[Answer | None] = mapped_column(Enum(Answer, native_enum=False, length=20))
    comment_ct: Mapped[bytes | None] = mapped_column("comment", EncryptedBytes)
    chef_comment_ct: Mapped[bytes | None] = mapped_column("chef_comment", EncryptedBytes)

    comment = encrypted_field("comment_ct", table="followup_answer", column="comment")
    chef_comment = encrypted_field("chef_comment_ct", table="followup_answer", column="chef_comment")
    followup: Mapped[AnnualFollowUp] = relationship(back_populates="answers")
