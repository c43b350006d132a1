"""Which units a user reaches, in SQL: the same rules as the policies, used by loaders and lists.

- samordnare / ersättare: their own units (active assignments, active unit and operator);
- chef: every unit of the operators they are chef of, and of those operators' bolag;
- upphandlare: their own units, for the procurements they are responsible for only
  (procurements/services.visible_clause).
The policies decide on each object; these queries keep lists and loaders from even fetching
what the policies would deny (DESIGN.md, request flow). tests/security keep the two in step.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select, union
from sqlalchemy.orm import aliased

from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment
from sakskydd.authz.enforcement import parse_uuid
from sakskydd.extensions import db
from sakskydd.organisations.models import Operator, OrgUnit

COORDINATOR_ROLES = (Role.SAMORDNARE, Role.ERSATTARE)


def _unit_role_ids(user_id: uuid.UUID, roles: tuple[Role, ...]) -> Select[Any]:
    return (
        select(RoleAssignment.unit_id)
        .join(OrgUnit, OrgUnit.id == RoleAssignment.unit_id)
        .join(Operator, Operator.id == OrgUnit.operator_id)
        .where(
            RoleAssignment.user_id == user_id,
            RoleAssignment.status == AssignmentStatus.ACTIVE,
            RoleAssignment.role.in_(roles),
            OrgUnit.is_active.is_(True),
            Operator.is_active.is_(True),
        )
    )


def coordinated_unit_ids(user_id: uuid.UUID) -> Select[Any]:
    """Units where the user is samordnare or ersättare."""
    return _unit_role_ids(user_id, COORDINATOR_ROLES)


def upphandlare_unit_ids(user_id: uuid.UUID) -> Select[Any]:
    """Units where the user is upphandlare."""
    return _unit_role_ids(user_id, (Role.UPPHANDLARE,))


def _operator_role_ids(user_id: uuid.UUID, role: Role) -> Select[Any]:
    """Operators where the user holds `role`, and the bolag under them."""
    direct = select(RoleAssignment.operator_id).where(
        RoleAssignment.user_id == user_id,
        RoleAssignment.status == AssignmentStatus.ACTIVE,
        RoleAssignment.role == role,
    )
    child = aliased(Operator)
    children = select(child.id).where(child.parent_id.in_(direct))
    return select(Operator.id).where(
        Operator.is_active.is_(True), Operator.id.in_(union(direct, children).subquery().select())
    )


def chef_operator_ids(user_id: uuid.UUID) -> Select[Any]:
    """Operators the user is chef of, and the bolag under them."""
    return _operator_role_ids(user_id, Role.CHEF)


def revisor_operator_ids(user_id: uuid.UUID) -> Select[Any]:
    """Operators whose audit trail the user reads as revisor, and the bolag under them."""
    return _operator_role_ids(user_id, Role.REVISOR)


def chef_unit_ids(user_id: uuid.UUID) -> Select[Any]:
    return select(OrgUnit.id).where(OrgUnit.operator_id.in_(chef_operator_ids(user_id)))


def readable_unit_ids(user_id: uuid.UUID) -> Select[Any]:
    """Units whose pages the user may open (coordinator or chef)."""
    return select(union(coordinated_unit_ids(user_id), chef_unit_ids(user_id)).subquery().c[0])


def load_chef_operator(operator_id: str, user_id: uuid.UUID) -> Operator | None:
    """The operator if the user is its chef (or its kommun's); None (→ 404) otherwise."""
    ident = parse_uuid(operator_id)
    if ident is None:
        return None
    return db.scalar(
        select(Operator).where(Operator.id == ident, Operator.id.in_(chef_operator_ids(user_id)))
    )


def load_readable_unit(unit_id: str, user_id: uuid.UUID) -> OrgUnit | None:
    """The unit if the user reaches it; None (→ 404) when absent or out of scope."""
    ident = parse_uuid(unit_id)
    if ident is None:
        return None
    return db.scalar(select(OrgUnit).where(OrgUnit.id == ident, OrgUnit.id.in_(readable_unit_ids(user_id))))
