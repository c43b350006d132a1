"""Cedar entities built fresh from the database for every decision (never from the session).

Every builder returns a list of entity dicts in Cedar's JSON format: the entity asked for plus
the operators above it, so that `in` works through the bolag → kommun hierarchy. Lists from
several builders may be concatenated; the engine drops identical duplicates.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

# The models are imported inside the builders: this module (and the engine that imports it)
# must load without the model layer, e.g. for `sakskydd policies check` on an auditor's machine.

NAMESPACE = "Sakskydd"
APPLICATION_ID = "sakskydd"
# Stands in for `requested_by` when an assignment was made outside the admin UI (CLI, demo);
# no user has this id, so separation-of-duties checks compare against nobody.
SYSTEM_USER_ID = "system"

UNIT_ROLE_ATTRIBUTES = {
    "samordnare": "samordnare_units",
    "ersattare": "ersattare_units",
    "upphandlare": "upphandlare_units",
}
OPERATOR_ROLE_ATTRIBUTES = {
    "chef": "chef_operators",
    "revisor": "revisor_operators",
    "admin": "admin_operators",
}


def qualified(entity_type: str) -> str:
    """`User` → `Sakskydd::User`."""
    return f"{NAMESPACE}::{entity_type}"


@dataclass(frozen=True, slots=True)
class EntityRef:
    """A Cedar entity uid: the bare type name (`User`) and the id (a UUID string)."""

    type: str
    id: str

    def to_cedar(self) -> dict[str, str]:
        return {"type": qualified(self.type), "id": self.id}

    def to_attr(self) -> dict[str, dict[str, str]]:
        """The form an entity reference takes inside another entity's attributes."""
        return {"__entity": self.to_cedar()}

    def __str__(self) -> str:
        return f'{qualified(self.type)}::"{self.id}"'


APPLICATION_REF = EntityRef("Application", APPLICATION_ID)


def application_ref() -> EntityRef:
    return APPLICATION_REF


def _id(value: Any) -> str:
    """A model instance or a raw id → the entity id string."""
    raw = getattr(value, "id", value)
    return str(raw)


def user_ref(user: Any) -> EntityRef:
    return EntityRef("User", _id(user))


def operator_ref(operator: Any) -> EntityRef:
    return EntityRef("Operator", _id(operator))


def unit_ref(unit: Any) -> EntityRef:
    return EntityRef("Unit", _id(unit))


def role_assignment_ref(assignment: Any) -> EntityRef:
    return EntityRef("RoleAssignment", _id(assignment))


def record_attributes(
    entity_type: str,
    *,
    unit: EntityRef,
    classification: int,
    created_by: EntityRef,
    authors: Iterable[EntityRef] = (),
    responsible: EntityRef | None = None,
) -> dict[str, Any]:
    """The attributes of a unit's record (Analysis, Asset, Procurement) as the schema declares them.

    An analysis's authors include its creator; a procurement's are only who answered its triage
    (the creator may be the samordnare who then confirms someone else's answers); a vetting
    case's only who took its beslut (the second person confirms it); a follow-up's only who
    submitted it (the chef reviews it).
    """
    attrs: dict[str, Any] = {"unit": unit, "classification": int(classification), "created_by": created_by}
    if entity_type == "Analysis":
        attrs["authors"] = frozenset({created_by, *authors})
    if entity_type in ("Procurement", "VettingCase", "FollowUp"):
        attrs["authors"] = frozenset(authors)
    if entity_type == "Procurement":
        attrs["responsible"] = responsible if responsible is not None else created_by
    return attrs


def entity(ref: EntityRef, attrs: Mapping[str, Any], parents: Iterable[EntityRef] = ()) -> dict[str, Any]:
    """One entity in Cedar JSON form; EntityRef values (also inside lists) become references."""

    def convert(value: Any) -> Any:
        if isinstance(value, EntityRef):
            return value.to_attr()
        if isinstance(value, list | tuple | set | frozenset):
            items = [convert(v) for v in value]
            # Sets have no order; a stable one keeps identical entities identical.
            return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
        return value

    return {
        "uid": ref.to_cedar(),
        "attrs": {key: convert(value) for key, value in attrs.items()},
        "parents": [p.to_cedar() for p in sorted(set(parents), key=lambda p: (p.type, p.id))],
    }


def application_entity() -> dict[str, Any]:
    """The singleton `Sakskydd::Application::"sakskydd"` (global pages)."""
    return entity(APPLICATION_REF, {})


def user_attributes(
    *,
    active: bool,
    clearance: int,
    operator: EntityRef,
    unit_roles: Mapping[str, Iterable[EntityRef]] | None = None,
    operator_roles: Mapping[str, Iterable[EntityRef]] | None = None,
    admin_operator_kinds: Iterable[str] = (),
) -> dict[str, Any]:
    """The attributes of a User entity; role names are the Role enum values."""
    unit_roles = unit_roles or {}
    operator_roles = operator_roles or {}
    unknown = set(unit_roles) - set(UNIT_ROLE_ATTRIBUTES)
    unknown |= set(operator_roles) - set(OPERATOR_ROLE_ATTRIBUTES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    attrs: dict[str, Any] = {"active": bool(active), "clearance": int(clearance), "operator": operator}
    for role, attr in UNIT_ROLE_ATTRIBUTES.items():
        attrs[attr] = frozenset(unit_roles.get(role, ()))
    for role, attr in OPERATOR_ROLE_ATTRIBUTES.items():
        attrs[attr] = frozenset(operator_roles.get(role, ()))
    attrs["admin_operator_kinds"] = frozenset(admin_operator_kinds)
    return attrs


# --- builders over the database ------------------------------------------------------------


def _operator_entities(
    session: Session, operator_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The given operators and all their ancestors, in one recursive query."""
    from sakskydd.organisations.models import Operator

    ids = {i for i in operator_ids if i is not None}
    if not ids:
        return {}
    tree = (
        select(Operator.id, Operator.kind, Operator.parent_id)
        .where(Operator.id.in_(ids))
        .cte("operator_ancestors", recursive=True)
    )
    parent = aliased(Operator)
    # UNION (not UNION ALL) also ends the recursion should the data ever contain a cycle.
    tree = tree.union(
        select(parent.id, parent.kind, parent.parent_id).join(tree, parent.id == tree.c.parent_id)
    )
    rows = session.execute(select(tree.c.id, tree.c.kind, tree.c.parent_id)).all()
    return {
        row.id: entity(
            operator_ref(row.id),
            {"kind": str(getattr(row.kind, "value", row.kind))},
            [operator_ref(row.parent_id)] if row.parent_id is not None else [],
        )
        for row in rows
    }


def _unit_entity(unit_id: uuid.UUID, operator_id: uuid.UUID) -> dict[str, Any]:
    # Units carry no classification column yet; an organisation unit itself is unclassified.
    return entity(
        unit_ref(unit_id),
        {"operator": operator_ref(operator_id), "classification": 0},
        [operator_ref(operator_id)],
    )


def _user_with_active_assignments(user_id: uuid.UUID) -> Select[Any]:
    """The user's row with each ACTIVE assignment, in one statement: one row per assignment, or
    one row with empty role columns for a user without any."""
    from sakskydd.accounts.models import AssignmentStatus, RoleAssignment, User
    from sakskydd.organisations.models import Operator, OrgUnit

    scope_operator = aliased(Operator)
    # A role counts only while it is ACTIVE and its unit and operator are active.
    grants = (
        select(
            RoleAssignment.user_id,
            RoleAssignment.role,
            RoleAssignment.unit_id,
            OrgUnit.operator_id.label("unit_operator_id"),
            scope_operator.id.label("scope_operator_id"),
            scope_operator.kind.label("scope_operator_kind"),
        )
        .outerjoin(OrgUnit, OrgUnit.id == RoleAssignment.unit_id)
        .join(
            scope_operator,
            scope_operator.id == func.coalesce(RoleAssignment.operator_id, OrgUnit.operator_id),
        )
        .where(
            RoleAssignment.user_id == user_id,
            RoleAssignment.status == AssignmentStatus.ACTIVE,
            scope_operator.is_active.is_(True),
            (RoleAssignment.unit_id.is_(None)) | (OrgUnit.is_active.is_(True)),
        )
        .subquery("grants")
    )
    return (
        select(
            User.id,
            User.is_active,
            User.clearance,
            User.operator_id,
            grants.c.role,
            grants.c.unit_id,
            grants.c.unit_operator_id,
            grants.c.scope_operator_id,
            grants.c.scope_operator_kind,
        )
        .outerjoin(grants, grants.c.user_id == User.id)
        .where(User.id == user_id)
    )


def user_entity(session: Session, user: Any) -> list[dict[str, Any]]:
    """The user (roles from ACTIVE assignments) with the units and operators it refers to.

    Reads the row again from the database, with the assignments in the same statement; a user
    that no longer exists yields no entity, so every decision about them is Deny.
    """
    from sakskydd.accounts.models import UNIT_ROLES, Role

    user_id = getattr(user, "id", user)
    rows = session.execute(_user_with_active_assignments(user_id)).all()
    if not rows:
        return []
    row = rows[0]
    unit_roles: dict[str, set[EntityRef]] = {}
    operator_roles: dict[str, set[EntityRef]] = {}
    units: dict[uuid.UUID, uuid.UUID] = {}
    operator_ids: set[uuid.UUID] = {row.operator_id}
    admin_kinds: set[str] = set()
    for grant in rows:
        if grant.role is None:
            continue  # the user's own row, without any assignment
        role = Role(grant.role)
        if role in UNIT_ROLES:
            units[grant.unit_id] = grant.unit_operator_id
            unit_roles.setdefault(role.value, set()).add(unit_ref(grant.unit_id))
        else:
            operator_roles.setdefault(role.value, set()).add(operator_ref(grant.scope_operator_id))
            if role is Role.ADMIN:
                admin_kinds.add(str(getattr(grant.scope_operator_kind, "value", grant.scope_operator_kind)))
        operator_ids.add(grant.scope_operator_id)
    attrs = user_attributes(
        active=row.is_active,
        clearance=row.clearance,
        operator=operator_ref(row.operator_id),
        unit_roles=unit_roles,
        operator_roles=operator_roles,
        admin_operator_kinds=admin_kinds,
    )
    result = [entity(user_ref(row.id), attrs, [operator_ref(row.operator_id)])]
    result.extend(_unit_entity(unit_id, op_id) for unit_id, op_id in units.items())
    result.extend(_operator_entities(session, operator_ids).values())
    return result


def operator_entity(session: Session, operator: Any) -> list[dict[str, Any]]:
    """The operator and the operators above it."""
    operator_id = getattr(operator, "id", operator)
    return list(_operator_entities(session, [operator_id]).values())


def unit_entity(session: Session, unit: Any) -> list[dict[str, Any]]:
    """The unit and its operator chain; a unit that no longer exists yields nothing."""
    from sakskydd.organisations.models import OrgUnit

    unit_id = getattr(unit, "id", unit)
    row = session.execute(select(OrgUnit.id, OrgUnit.operator_id).where(OrgUnit.id == unit_id)).one_or_none()
    if row is None:
        return []
    return [_unit_entity(row.id, row.operator_id), *_operator_entities(session, [row.operator_id]).values()]


def role_assignment_entity(session: Session, assignment: Any) -> list[dict[str, Any]]:
    """The assignment (scope operator as parent) and that operator's chain."""
    from sakskydd.accounts.models import RoleAssignment
    from sakskydd.organisations.models import OrgUnit

    assignment_id = getattr(assignment, "id", assignment)
    row = session.execute(
        select(
            RoleAssignment.id,
            RoleAssignment.user_id,
            RoleAssignment.granted_by_id,
            RoleAssignment.role,
            func.coalesce(RoleAssignment.operator_id, OrgUnit.operator_id).label("scope_operator_id"),
        )
        .outerjoin(OrgUnit, OrgUnit.id == RoleAssignment.unit_id)
        .where(RoleAssignment.id == assignment_id)
    ).one_or_none()
    if row is None:
        return []
    scope_operator_id = _as_uuid(row.scope_operator_id)
    requested_by = user_ref(row.granted_by_id if row.granted_by_id is not None else SYSTEM_USER_ID)
    attrs = {
        "user": user_ref(row.user_id),
        "requested_by": requested_by,
        "role": str(getattr(row.role, "value", row.role)),
        "classification": 0,
    }
    return [
        entity(role_assignment_ref(row.id), attrs, [operator_ref(scope_operator_id)]),
        *_operator_entities(session, [scope_operator_id]).values(),
    ]


def unit_record_entity(session: Session, entity_type: str, record: Any) -> list[dict[str, Any]]:
    """An analysis, asset, procurement, position or vetting case (a row loaded in this request)
    with its unit and operator chain."""
    author_ids = (getattr(record, "submitted_by_id", None), getattr(record, "triaged_by_id", None))
    if entity_type == "VettingCase":
        author_ids = (record.decided_by_id,)
    authors = [user_ref(u) for u in author_ids if u is not None]
    responsible_id = getattr(record, "responsible_id", None)
    ref = EntityRef(entity_type, _id(record))
    unit = unit_ref(record.unit_id)
    attrs = record_attributes(
        entity_type,
        unit=unit,
        classification=record.classification,
        created_by=user_ref(record.created_by_id),
        authors=authors,
        responsible=user_ref(responsible_id) if responsible_id is not None else None,
    )
    return [entity(ref, attrs, [unit]), *unit_entity(session, record.unit_id)]


def _as_uuid(value: Any) -> uuid.UUID:
    # COALESCE loses the column type on some dialects (SQLite returns the stored string).
    if isinstance(value, uuid.UUID):
        return value
    text = value.decode() if isinstance(value, bytes) else str(value)
    return uuid.UUID(text)


def resource_entities(session: Session, resource: Any) -> tuple[EntityRef, list[dict[str, Any]]]:
    """The reference and fresh entities for a model object used as the resource of a decision.

    Raises TypeError for a model the schema has no entity type for (a programming error).
    """
    from sakskydd.accounts.models import RoleAssignment, User
    from sakskydd.analyses.models import SecurityAnalysis
    from sakskydd.assets.models import ProtectedAsset
    from sakskydd.audit.models import AuditEvent
    from sakskydd.followup.models import AnnualFollowUp
    from sakskydd.organisations.models import Operator, OrgUnit
    from sakskydd.oversight.models import CityWideAnalysis
    from sakskydd.procurements.models import Procurement
    from sakskydd.vetting.models import Position, VettingCase

    if isinstance(resource, AuditEvent):
        # An audit event is no entity of its own: the auditor's permission is on the application
        # (audit.search), and which events they reach is decided in SQL by the loader.
        return application_ref(), [application_entity()]
    if isinstance(resource, CityWideAnalysis):
        # Decided on its operator (policies/oversight.cedar): the analysis is the operator's own.
        return operator_ref(resource.operator_id), operator_entity(session, resource.operator_id)
    if isinstance(resource, AnnualFollowUp):
        return EntityRef("FollowUp", _id(resource)), unit_record_entity(session, "FollowUp", resource)
    if isinstance(resource, VettingCase):
        return EntityRef("VettingCase", _id(resource)), unit_record_entity(session, "VettingCase", resource)
    if isinstance(resource, Position):
        return EntityRef("Position", _id(resource)), unit_record_entity(session, "Position", resource)
    if isinstance(resource, Procurement):
        return EntityRef("Procurement", _id(resource)), unit_record_entity(session, "Procurement", resource)
    if isinstance(resource, SecurityAnalysis):
        return EntityRef("Analysis", _id(resource)), unit_record_entity(session, "Analysis", resource)
    if isinstance(resource, ProtectedAsset):
        return EntityRef("Asset", _id(resource)), unit_record_entity(session, "Asset", resource)
    if isinstance(resource, User):
        return user_ref(resource), user_entity(session, resource)
    if isinstance(resource, OrgUnit):
        return unit_ref(resource), unit_entity(session, resource)
    if isinstance(resource, Operator):
        return operator_ref(resource), operator_entity(session, resource)
    if isinstance(resource, RoleAssignment):
        return role_assignment_ref(resource), role_assignment_entity(session, resource)
    raise TypeError(f"no Cedar entity type for {type(resource).__name__}")
