"""The asset register: create and change assets, keep their holders, notify holders of changes.

A change of status or damage level (models.NOTIFYING_FIELDS) reaches every holder (seeds/001):
each holder user, and the current samordnare and ersättare of each holder unit, gets one
HolderNotice (the in-app item) and an e-mail, and acknowledges it once. Functions here never
read the request; the views pass what they need and commit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from flask import current_app, render_template
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from sakskydd import audit
from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment, User
from sakskydd.assets.forms import STATUS_LABELS, latest_risk_date
from sakskydd.assets.models import (
    NOTIFYING_FIELDS,
    AssetHolder,
    AssetRevision,
    AssetStatus,
    AssetType,
    HolderNotice,
    ProtectedAsset,
)
from sakskydd.audit.tags import Event
from sakskydd.classification import DAMAGE_LEVEL_LABELS, DamageLevel
from sakskydd.db import utcnow
from sakskydd.extensions import db
from sakskydd.notifications.mail import send_mail
from sakskydd.organisations.models import Operator, OrgUnit
from sakskydd.records import (
    DomainError,
    DowngradeNeedsTwoPersons,
    check_free_text,
    check_version,
    clean_text,
    flush_versioned,
    serialise_on,
    track_changes,
)

# The fields a form may set; anything else (unit, creator, version, archive flag) is not
# assignable through create/update (mass assignment).
EDITABLE_FIELDS = (
    "type",
    "name",
    "damage_level",
    "status",
    "owner",
    "reference",
    "location",
    "risk_assessed_on",
    "note",
    "classification",
)
# Encrypted fields: the history and the audit trail name them, never their values.
ENCRYPTED_FIELDS = frozenset({"note"})
HOLDER_COORDINATOR_ROLES = (Role.SAMORDNARE, Role.ERSATTARE)

MAX_LENGTHS = {"name": 200, "owner": 200, "reference": 100, "location": 200, "note": 4000}

RISK_DATE_ONLY_FOR_SYSTEMS = (
    "Datum för riskbedömning anges bara för informationssystem och it-tjänster. "
    "Töm datumfältet eller välj typen Informationssystem/it-tjänst."
)
RISK_DATE_IN_FUTURE = "Datum för riskbedömningen kan inte ligga i framtiden."


class AssetArchived(DomainError):
    def __init__(self) -> None:
        super().__init__("Objektet är arkiverat och kan inte ändras.")


class HolderAlreadyAdded(DomainError):
    def __init__(self) -> None:
        super().__init__("Innehavaren finns redan för objektet.")


class MarkingAboveClearance(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "Du kan inte märka uppgifterna med en högre säkerhetsskyddsklass än din egen behörighetsnivå."
        )


def _ceiling() -> int:
    return int(current_app.config["SAKSKYDD_SETTINGS"].max_classification)


def _clean_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise a form's values and check the register's rules (DomainError, Swedish)."""
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not assignable: {sorted(unknown)}")
    missing = set(EDITABLE_FIELDS) - set(values)
    if missing:
        raise ValueError(f"missing: {sorted(missing)}")
    try:
        cleaned: dict[str, Any] = {
            "type": AssetType(values["type"]),
            "damage_level": DamageLevel(values["damage_level"]),
            "status": AssetStatus(values["status"]),
            "classification": int(values["classification"] or 0),
        }
    except ValueError as exc:
        raise DomainError("Välj typ, skadenivå och status bland alternativen.") from exc
    for name in ("name", "owner", "reference", "location", "note"):
        cleaned[name] = clean_text(values[name])
        if cleaned[name] is not None and len(cleaned[name]) > MAX_LENGTHS[name]:
            raise DomainError(f"Texten är för lång (högst {MAX_LENGTHS[name]} tecken).")
    if cleaned["name"] is None:
        raise DomainError("Ange ett neutralt namn på objektet.")
    if cleaned["owner"] is None:
        raise DomainError("Ange informationsägare.")
    risk_date = values["risk_assessed_on"]
    if risk_date is not None:
        if not isinstance(risk_date, dt.date) or isinstance(risk_date, dt.datetime):
            raise ValueError("risk_assessed_on must be a date")
        if cleaned["type"] is not AssetType.SYSTEM:
            raise DomainError(RISK_DATE_ONLY_FOR_SYSTEMS)
        if risk_date > latest_risk_date():
            raise DomainError(RISK_DATE_IN_FUTURE)
    cleaned["risk_assessed_on"] = risk_date
    return cleaned


def _guard(actor: User, values: Mapping[str, Any], attested: bool) -> None:
    """The storage guard (again, behind the form) and the actor's own clearance."""
    check_free_text([values["note"]], attested=attested, marking=values["classification"], ceiling=_ceiling())
    if values["classification"] > actor.clearance:
        raise MarkingAboveClearance()


def create_asset(actor: User, unit: OrgUnit, values: Mapping[str, Any], *, attested: bool) -> ProtectedAsset:
    """Register a new asset of `unit`. Raises DomainError or ClassificationAboveCeiling."""
    cleaned = _clean_values(values)
    _guard(actor, cleaned, attested)
    note = cleaned.pop("note")
    asset = ProtectedAsset(unit_id=unit.id, created_by_id=actor.id, **cleaned)
    asset.note = note
    asset.attested = bool(attested and note)
    db.add(asset)
    db.flush()
    changed = [name for name, value in cleaned.items() if value is not None]
    if note is not None:
        changed.append("note")
    audit.record(Event.ASSET_CREATED, target=asset, changed=changed)
    return asset


def record_asset_read(asset: ProtectedAsset, *, view: str = "detail") -> None:
    """The audit event of a sensitive read (the asset page, or the edit form showing the note)."""
    audit.record(Event.ASSET_READ, target=asset, detail={"view": view})


def update_asset(
    actor: User,
    asset: ProtectedAsset,
    values: Mapping[str, Any],
    version: int | None,
    *,
    attested: bool = False,
) -> AssetRevision | None:
    """Change an asset, write its history and notify the holders of a status or level change.

    Returns the revision, or None when nothing changed. Raises StaleRecord (someone saved in
    between), AssetArchived, DowngradeNeedsTwoPersons, DomainError, or
    classification.ClassificationAboveCeiling.
    """
    if asset.is_archived:
        raise AssetArchived()
    check_version(asset, version)
    cleaned = _clean_values(values)
    _guard(actor, cleaned, attested)
    if cleaned["classification"] < asset.classification:
        raise DowngradeNeedsTwoPersons()
    changes = track_changes(asset, cleaned, ENCRYPTED_FIELDS)
    if not changes:
        return None
    if "note" in changes:
        asset.attested = bool(attested and cleaned["note"])
    asset.updated_at = utcnow()
    revision = _write_revision(actor, asset, changes)
    audit.record(Event.ASSET_UPDATED, target=asset, changed=sorted(changes))
    if any(name in changes for name in NOTIFYING_FIELDS):
        notify_holders(actor, asset, revision)
    return revision


def _write_revision(actor: User, asset: ProtectedAsset, changes: dict[str, Any]) -> AssetRevision:
    flush_versioned()  # the version column catches a save that raced past check_version
    revision = AssetRevision(asset_id=asset.id, unit_id=asset.unit_id, actor_id=actor.id, changes=changes)
    db.add(revision)
    db.flush()
    return revision


def archive_asset(actor: User, asset: ProtectedAsset, version: int | None) -> AssetRevision:
    """Archive instead of delete: hidden from the list by default, history kept.

    Raises StaleRecord or AssetArchived.
    """
    if asset.is_archived:
        raise AssetArchived()
    check_version(asset, version)
    asset.is_archived = True
    asset.updated_at = utcnow()
    revision = _write_revision(actor, asset, {"is_archived": [False, True]})
    audit.record(Event.ASSET_UPDATED, target=asset, changed=["is_archived"])
    return revision


# --- holders ----------------------------------------------------------------------------------


def operator_tree_ids(operator_id: uuid.UUID) -> list[uuid.UUID]:
    """The operator's tree: its top operator (the kommun) and every bolag under it."""
    parent_id = db.scalar(select(Operator.parent_id).where(Operator.id == operator_id))
    root = parent_id or operator_id
    children = db.scalars(select(Operator.id).where(Operator.parent_id == root))
    return [root, *children]


def holder_unit_candidates(asset: ProtectedAsset, tree: list[uuid.UUID] | None = None) -> list[OrgUnit]:
    """Active units of the asset's operator tree that are not holders yet."""
    taken = select(AssetHolder.holder_unit_id).where(
        AssetHolder.asset_id == asset.id, AssetHolder.holder_unit_id.is_not(None)
    )
    return list(
        db.scalars(
            select(OrgUnit)
            .where(
                OrgUnit.operator_id.in_(tree or operator_tree_ids(asset.unit.operator_id)),
                OrgUnit.is_active.is_(True),
                OrgUnit.id.not_in(taken),
            )
            .order_by(OrgUnit.name)
        )
    )


def holder_user_candidates(asset: ProtectedAsset, tree: list[uuid.UUID] | None = None) -> list[User]:
    """Active users of the asset's operator tree that are not holders yet."""
    taken = select(AssetHolder.user_id).where(
        AssetHolder.asset_id == asset.id, AssetHolder.user_id.is_not(None)
    )
    return list(
        db.scalars(
            select(User)
            .where(
                User.operator_id.in_(tree or operator_tree_ids(asset.unit.operator_id)),
                User.is_active.is_(True),
                User.id.not_in(taken),
            )
            .order_by(User.display_name, User.username)
        )
    )


def add_holder(
    actor: User, asset: ProtectedAsset, *, unit: OrgUnit | None = None, user: User | None = None
) -> AssetHolder:
    """Add a holder unit or user (one of them) from the asset's operator tree.

    Raises AssetArchived, HolderAlreadyAdded, or DomainError for a holder outside the tree.
    """
    if (unit is None) == (user is None):
        raise ValueError("give a unit or a user")
    if asset.is_archived:
        raise AssetArchived()
    tree = operator_tree_ids(asset.unit.operator_id)
    if unit is not None and (unit.operator_id not in tree or not unit.is_active):
        raise DomainError("Enheten finns inte bland de enheter som kan vara innehavare.")
    if user is not None and (user.operator_id not in tree or not user.is_active):
        raise DomainError("Personen finns inte bland dem som kan vara innehavare.")
    serialise_on(ProtectedAsset, asset.id)  # a double submit adds the holder once
    if unit is not None:
        same = AssetHolder.holder_unit_id == unit.id
    elif user is not None:
        same = AssetHolder.user_id == user.id
    existing = db.scalar(select(AssetHolder.id).where(AssetHolder.asset_id == asset.id, same))
    if existing is not None:
        raise HolderAlreadyAdded()
    holder = AssetHolder(
        asset_id=asset.id,
        holder_unit_id=unit.id if unit is not None else None,
        user_id=user.id if user is not None else None,
    )
    db.add(holder)
    # The asset row itself is left alone, so an edit form open elsewhere does not go stale.
    _write_revision(actor, asset, {"holders": [None, holder_key(holder)]})
    audit.record(Event.ASSET_UPDATED, target=asset, changed=["holders"])
    return holder


def remove_holder(actor: User, asset: ProtectedAsset, holder: AssetHolder) -> None:
    """Remove a holder; its notices stay (they are history). Raises AssetArchived."""
    if holder.asset_id != asset.id:
        raise ValueError("the holder belongs to another asset")
    if asset.is_archived:
        raise AssetArchived()
    key = holder_key(holder)
    db.delete(holder)
    _write_revision(actor, asset, {"holders": [key, None]})
    audit.record(Event.ASSET_UPDATED, target=asset, changed=["holders"])


def holder_key(holder: AssetHolder) -> str:
    """How the history names a holder: "unit:<id>" or "user:<id>" (never a person's name)."""
    if holder.holder_unit_id is not None:
        return f"unit:{holder.holder_unit_id}"
    return f"user:{holder.user_id}"


def holder_names(keys: set[str]) -> dict[str, str]:
    """Display names for history keys from holder_key (two queries at most)."""
    unit_ids, user_ids = set(), set()
    for key in keys:
        kind, _, raw = key.partition(":")
        try:
            ident = uuid.UUID(raw)
        except ValueError:
            continue
        (unit_ids if kind == "unit" else user_ids).add(ident)
    names: dict[str, str] = {}
    if unit_ids:
        for ident, name in db.execute(select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(unit_ids))):
            names[f"unit:{ident}"] = name
    if user_ids:
        for ident, name in db.execute(select(User.id, User.display_name).where(User.id.in_(user_ids))):
            names[f"user:{ident}"] = name
    return names


# --- notices to holders -----------------------------------------------------------------------


def notice_recipients(asset: ProtectedAsset) -> list[User]:
    """Who a status or level change reaches: active holder users, and the active samordnare
    and ersättare of active holder units; each person once."""
    direct = (
        select(User)
        .join(AssetHolder, AssetHolder.user_id == User.id)
        .where(AssetHolder.asset_id == asset.id, User.is_active.is_(True))
    )
    via_units = (
        select(User)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .join(AssetHolder, AssetHolder.holder_unit_id == RoleAssignment.unit_id)
        .join(OrgUnit, OrgUnit.id == RoleAssignment.unit_id)
        .where(
            AssetHolder.asset_id == asset.id,
            RoleAssignment.status == AssignmentStatus.ACTIVE,
            RoleAssignment.role.in_(HOLDER_COORDINATOR_ROLES),
            OrgUnit.is_active.is_(True),
            User.is_active.is_(True),
        )
    )
    people: dict[uuid.UUID, User] = {}
    for query in (direct, via_units):
        for user in db.scalars(query):
            people.setdefault(user.id, user)
    return sorted(people.values(), key=lambda u: (u.display_name, u.username))


def notify_holders(actor: User, asset: ProtectedAsset, revision: AssetRevision) -> list[HolderNotice]:
    """One notice (and e-mail) per recipient of a status or level change.

    The person who made the change is not asked to acknowledge it.
    """
    recipients = [user for user in notice_recipients(asset) if user.id != actor.id]
    notices = [
        HolderNotice(asset_id=asset.id, unit_id=asset.unit_id, revision_id=revision.id, user_id=user.id)
        for user in recipients
    ]
    db.add_all(notices)
    db.flush()
    for notice, user in zip(notices, recipients, strict=True):
        send_holder_notice_mail(notice, user=user, asset=asset, revision=revision)
    audit.record(Event.ASSET_NOTICE_SENT, target=asset, detail={"recipients": len(notices)})
    return notices


def notice_change(revision: AssetRevision) -> dict[str, tuple[Any, Any]]:
    """The notifying part of a revision: {"status": (old, new), "damage_level": (old, new)}."""
    changes = revision.changes or {}
    return {name: tuple(changes[name]) for name in NOTIFYING_FIELDS if changes.get(name)}  # type: ignore[misc]


def send_holder_notice_mail(
    notice: HolderNotice,
    *,
    user: User | None = None,
    asset: ProtectedAsset | None = None,
    revision: AssetRevision | None = None,
) -> bool:
    """E-mail a notice to its recipient (reminders go out with `sakskydd reminders run`).

    Names only the asset's neutral name, its unit and the old → new status/level, with a link
    to the notice. Returns False when the person has no e-mail address. Needs an app context.
    """
    user = user or notice.user
    asset = asset or notice.asset
    revision = revision or notice.revision
    if not user.email:
        return False
    settings = current_app.config["SAKSKYDD_SETTINGS"]
    body = render_template(
        "mail/asset_notice.txt",
        user=user,
        asset_name=asset.name,
        unit_name=asset.unit.name,
        change=notice_change(revision),
        STATUS_LABELS=STATUS_LABELS,
        DAMAGE_LEVEL_LABELS=DAMAGE_LEVEL_LABELS,
        link=f"{settings.base_url}/notiser/{notice.id}",
        sent_at=notice.created_at,
    )
    send_mail(user.email, "Ändring av ett skyddsvärt objekt som du är innehavare av", body)
    return True


def load_own_notice(notice_id: uuid.UUID, user_id: uuid.UUID) -> HolderNotice | None:
    """The notice if it is addressed to this user, else None (→ 404)."""
    return db.scalar(
        select(HolderNotice)
        .where(HolderNotice.id == notice_id, HolderNotice.user_id == user_id)
        .options(selectinload(HolderNotice.asset).selectinload(ProtectedAsset.unit))
    )


def acknowledge_notice(user: User, notice: HolderNotice) -> bool:
    """Acknowledge once (compare-and-set): True if this call did it, False if it was done already."""
    if notice.user_id != user.id:
        raise ValueError("a notice is acknowledged by its recipient only")
    moved = db.execute(
        update(HolderNotice)
        .where(
            HolderNotice.id == notice.id,
            HolderNotice.user_id == user.id,
            HolderNotice.acknowledged_at.is_(None),
        )
        .values(acknowledged_at=utcnow(), version=HolderNotice.version + 1)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    db.expire(notice)
    audit.record(
        Event.ASSET_NOTICE_ACKNOWLEDGED,
        target=notice.asset,
        detail={"notice_id": str(notice.id), "revision_id": str(notice.revision_id)},
    )
    return True


def open_notices_for(user_id: uuid.UUID, limit: int = 20) -> list[HolderNotice]:
    """The user's unacknowledged notices, newest first, with asset, unit and revision loaded
    (for the home page's list; each links to /notiser/<id>)."""
    return list(
        db.scalars(
            select(HolderNotice)
            .where(HolderNotice.user_id == user_id, HolderNotice.acknowledged_at.is_(None))
            .options(
                selectinload(HolderNotice.asset).selectinload(ProtectedAsset.unit),
                selectinload(HolderNotice.revision),
            )
            .order_by(HolderNotice.created_at.desc(), HolderNotice.id)
            .limit(limit)
        )
    )


def unacknowledged_notices(asset_id: uuid.UUID) -> list[HolderNotice]:
    """The asset's notices nobody has acknowledged yet, oldest first, with the recipient loaded.

    Each row carries `created_at` (sent), `last_reminded_at` and `reminder_count`.
    """
    return list(
        db.scalars(
            select(HolderNotice)
            .where(HolderNotice.asset_id == asset_id, HolderNotice.acknowledged_at.is_(None))
            .options(selectinload(HolderNotice.user))
            .order_by(HolderNotice.created_at, HolderNotice.id)
        )
    )


def notices_for_asset(asset_id: uuid.UUID, limit: int = 200) -> list[HolderNotice]:
    """The acknowledgement list of an asset: every notice, newest change first."""
    return list(
        db.scalars(
            select(HolderNotice)
            .where(HolderNotice.asset_id == asset_id)
            .options(selectinload(HolderNotice.user), selectinload(HolderNotice.revision))
            .order_by(HolderNotice.created_at.desc(), HolderNotice.id)
            .limit(limit)
        )
    )
