"""Account administration: users, role assignments (with a second approval), operators, units.

Administrators trigger activation and MFA resets but never set a password or see case content.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from sakskydd import audit
from sakskydd.accounts.models import (
    UNIT_ROLES,
    AssignmentStatus,
    Clearance,
    RecoveryCode,
    Role,
    RoleAssignment,
    User,
)
from sakskydd.accounts.services import USERNAME_RE, issue_activation_token, normalise_username
from sakskydd.accounts.sessions import end_user_sessions
from sakskydd.audit.tags import Event
from sakskydd.db import utcnow
from sakskydd.extensions import db
from sakskydd.identifiers import IdentifierError, normalise_org_number
from sakskydd.notifications.models import NoticeKind
from sakskydd.notifications.services import notify_user
from sakskydd.organisations.models import Operator, OperatorKind, OrgUnit, UnitKind
from sakskydd.records import serialise_on

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,185}\.[^@\s]{2,}$")


class AdminError(Exception):
    """A rule of account administration was broken; the message is Swedish and safe to show."""


class StaleEdit(AdminError):
    def __init__(self) -> None:
        super().__init__(
            "Någon annan har ändrat uppgifterna under tiden. Dina ändringar är kvar i formuläret; "
            "kontrollera dem mot de nya uppgifterna och spara igen."
        )


def administered_operator_ids(admin: User) -> set[uuid.UUID]:
    """Operators the user administers: those of their active admin roles and the bolag under them."""
    direct = set(
        db.scalars(
            select(RoleAssignment.operator_id).where(
                RoleAssignment.user_id == admin.id,
                RoleAssignment.role == Role.ADMIN,
                RoleAssignment.status == AssignmentStatus.ACTIVE,
            )
        )
    )
    direct.discard(None)
    if not direct:
        return set()
    children = set(db.scalars(select(Operator.id).where(Operator.parent_id.in_(direct))))
    return {op for op in direct | children if op is not None}


def _check_version(obj: User | Operator | OrgUnit, version: int | None) -> None:
    if version is not None and obj.version != version:
        raise StaleEdit()


def _validate_identity(display_name: str, email: str) -> None:
    if not display_name.strip() or len(display_name) > 200:
        raise AdminError("Ange personens namn (högst 200 tecken).")
    if not EMAIL_RE.match(email.strip()):
        raise AdminError("Ange en giltig e-postadress.")


def create_user(
    actor: User | None,
    *,
    username: str,
    display_name: str,
    email: str,
    operator: Operator,
    activation_hours: int,
) -> tuple[User, str]:
    """New account with no password; returns it and a one-time activation token."""
    name = normalise_username(username)
    if not USERNAME_RE.match(name):
        raise AdminError(
            "Användarnamnet får bara innehålla a–z, 0–9, punkt, bindestreck och understreck (2–64 tecken)."
        )
    _validate_identity(display_name, email)
    if db.scalar(select(User.id).where(User.username == name)) is not None:
        raise AdminError("Användarnamnet är upptaget.")
    user = User(
        username=name,
        display_name=display_name.strip(),
        email=email.strip(),
        operator_id=operator.id,
        created_by_id=actor.id if actor else None,
    )
    db.add(user)
    db.flush()
    token = issue_activation_token(user, actor_id=actor.id if actor else None, hours=activation_hours)
    audit.record(
        Event.ACCOUNT_CREATED,
        target_type="user_account",
        target_id=str(user.id),
        changed=["username", "display_name", "email", "operator_id"],
        detail={"operator_id": str(operator.id)},
    )
    return user, token


def update_user(actor: User, user: User, *, display_name: str, email: str, version: int | None) -> list[str]:
    _check_version(user, version)
    _validate_identity(display_name, email)
    changed = []
    if user.display_name != display_name.strip():
        user.display_name = display_name.strip()
        changed.append("display_name")
    if user.email != email.strip():
        user.email = email.strip()
        changed.append("email")
    if changed:
        db.flush()
        audit.record(Event.ACCOUNT_UPDATED, target=user, changed=changed)
    return changed


def resend_activation(actor: User, user: User, *, activation_hours: int) -> str:
    if not user.is_active:
        raise AdminError("Kontot är inaktiverat. Aktivera det först.")
    token = issue_activation_token(user, actor_id=actor.id if actor else None, hours=activation_hours)
    audit.record(Event.ACCOUNT_UPDATED, target=user, changed=["activation_token"])
    if user.password_hash is not None:
        # An activated account: the link can replace the password, so its owner is told at once
        # (the administrator triggers a reset but never learns or chooses the password).
        notify_user(user, NoticeKind.ACTIVATION_REISSUED, {"at": utcnow().isoformat(timespec="minutes")})
    return token


def set_user_active(actor: User | None, user: User, *, active: bool) -> None:
    """Disable or re-enable an account (`actor` None: from the command line)."""
    if actor is not None and user.id == actor.id:
        raise AdminError("Du kan inte inaktivera ditt eget konto.")
    if user.is_active == active:
        return
    user.is_active = active
    ended = 0 if active else end_user_sessions(user.id)
    db.flush()
    audit.record(
        Event.ACCOUNT_ENABLED if active else Event.ACCOUNT_DISABLED,
        target_type="user_account",
        target_id=str(user.id),
        changed=["is_active"],
        detail={"sessions_ended": ended},
    )


def reset_mfa(actor: User | None, user: User) -> None:
    """The user must enrol a new authenticator at the next login; all their sessions end."""
    if actor is not None and user.id == actor.id:
        raise AdminError("Du kan inte återställa din egen tvåstegsverifiering här. Använd Mitt konto.")
    user.totp_secret = None
    user.totp_pending_secret = None
    user.totp_enrolled_at = None
    user.totp_last_step = None
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    ended = end_user_sessions(user.id)
    db.flush()
    audit.record(
        Event.AUTH_MFA_RESET,
        target_type="user_account",
        target_id=str(user.id),
        changed=["totp_secret", "recovery_codes"],
        detail={"sessions_ended": ended},
    )
    notify_user(user, NoticeKind.MFA_RESET, {"at": utcnow().isoformat(timespec="minutes")})


def end_sessions(actor: User, user: User) -> int:
    ended = end_user_sessions(user.id)
    audit.record(
        Event.SESSION_ENDED,
        target_type="user_account",
        target_id=str(user.id),
        detail={"by": "admin", "count": ended},
    )
    notify_user(user, NoticeKind.SESSIONS_ENDED, {"count": ended})
    return ended


def set_clearance(actor: User, user: User, level: int, *, version: int | None) -> None:
    _check_version(user, version)
    if level not in {c.value for c in Clearance}:
        raise AdminError("Okänd behörighetsnivå.")
    if user.id == actor.id:
        raise AdminError("Du kan inte ändra din egen behörighetsnivå.")
    if user.clearance == level:
        return
    previous = user.clearance
    user.clearance = level
    db.flush()
    audit.record(
        Event.CLEARANCE_CHANGED,
        target_type="user_account",
        target_id=str(user.id),
        changed=["clearance"],
        detail={"from": previous, "to": level},
    )


def grant_role(
    actor: User, user: User, role: Role, *, unit: OrgUnit | None = None, operator: Operator | None = None
) -> RoleAssignment:
    """Give a role; chef and admin wait for a second administrator's approval."""
    if user.id == actor.id:
        raise AdminError("Du kan inte ge dig själv roller.")
    if role in UNIT_ROLES and unit is None:
        raise AdminError("Rollen ges per enhet. Välj en enhet.")
    if role not in UNIT_ROLES and operator is None:
        raise AdminError("Rollen ges per verksamhetsutövare. Välj en verksamhetsutövare.")
    scope = (
        {"unit_id": unit.id, "operator_id": None}
        if role in UNIT_ROLES and unit
        else {"unit_id": None, "operator_id": operator.id if operator else None}
    )
    serialise_on(User, user.id)  # a double submit registers one grant or request, not two
    existing = db.scalar(
        select(RoleAssignment.id).where(
            RoleAssignment.user_id == user.id,
            RoleAssignment.role == role,
            RoleAssignment.unit_id.is_(None)
            if scope["unit_id"] is None
            else RoleAssignment.unit_id == scope["unit_id"],
            RoleAssignment.operator_id.is_(None)
            if scope["operator_id"] is None
            else RoleAssignment.operator_id == scope["operator_id"],
            RoleAssignment.status.in_([AssignmentStatus.ACTIVE, AssignmentStatus.PENDING]),
        )
    )
    if existing is not None:
        raise AdminError("Personen har redan den rollen (eller en begäran om den väntar på godkännande).")
    needs_approval = role.needs_second_approval
    assignment = RoleAssignment(
        user_id=user.id,
        role=role,
        status=AssignmentStatus.PENDING if needs_approval else AssignmentStatus.ACTIVE,
        granted_by_id=actor.id,
        **scope,
    )
    if not needs_approval:
        assignment.decided_by_id = actor.id
        assignment.decided_at = utcnow()
    db.add(assignment)
    db.flush()
    audit.record(
        Event.ROLE_REQUESTED if needs_approval else Event.ROLE_GRANTED,
        target_type="role_assignment",
        target_id=str(assignment.id),
        unit_id=scope["unit_id"],
        changed=["role", "status"],
        detail={"role": role.value, "user_id": str(user.id), "operator_id": str(scope["operator_id"] or "")},
    )
    if needs_approval:
        for other in other_admins(actor, _scope_operator_id(assignment)):
            notify_user(other, NoticeKind.APPROVAL_REQUESTED, {"role": role.value})
    else:
        notify_user(user, NoticeKind.ROLE_GRANTED, {"role": role.value})
    return assignment


def _scope_operator_id(assignment: RoleAssignment) -> uuid.UUID | None:
    if assignment.operator_id is not None:
        return assignment.operator_id
    unit = db.get(OrgUnit, assignment.unit_id)
    return unit.operator_id if unit else None


def other_admins(actor: User, operator_id: uuid.UUID | None) -> Iterable[User]:
    operator = db.get(Operator, operator_id) if operator_id else None
    scope_ids = (
        {operator.id} | ({operator.parent_id} if operator and operator.parent_id else set())
        if operator
        else set()
    )
    return db.scalars(
        select(User)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(
            RoleAssignment.role == Role.ADMIN,
            RoleAssignment.status == AssignmentStatus.ACTIVE,
            RoleAssignment.operator_id.in_(scope_ids),
            User.id != actor.id,
            User.is_active.is_(True),
        )
        .distinct()
    )


def decide_role_request(actor: User, assignment: RoleAssignment, *, approve: bool) -> None:
    """Second administrator's decision; compare-and-set so two concurrent decisions cannot both win."""
    if actor.id in (assignment.granted_by_id, assignment.user_id):
        raise AdminError("Du kan inte besluta om en begäran som du själv har gjort eller som gäller dig.")
    result = db.execute(
        update(RoleAssignment)
        .where(RoleAssignment.id == assignment.id, RoleAssignment.status == AssignmentStatus.PENDING)
        .values(
            status=AssignmentStatus.ACTIVE if approve else AssignmentStatus.REJECTED,
            decided_by_id=actor.id,
            decided_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise AdminError("Begäran är redan avgjord.")
    db.refresh(assignment)
    audit.record(
        Event.ROLE_APPROVED if approve else Event.ROLE_REJECTED,
        target_type="role_assignment",
        target_id=str(assignment.id),
        unit_id=assignment.unit_id,
        changed=["status"],
        detail={"role": assignment.role.value, "user_id": str(assignment.user_id)},
    )
    user = db.get(User, assignment.user_id)
    if approve and user is not None:
        notify_user(user, NoticeKind.ROLE_GRANTED, {"role": assignment.role.value})


def revoke_role(actor: User, assignment: RoleAssignment) -> None:
    if assignment.user_id == actor.id:
        raise AdminError("Du kan inte återkalla dina egna roller.")
    result = db.execute(
        update(RoleAssignment)
        .where(RoleAssignment.id == assignment.id, RoleAssignment.status == AssignmentStatus.ACTIVE)
        .values(status=AssignmentStatus.REVOKED, revoked_by_id=actor.id, revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise AdminError("Rollen är inte aktiv.")
    db.refresh(assignment)
    audit.record(
        Event.ROLE_REVOKED,
        target_type="role_assignment",
        target_id=str(assignment.id),
        unit_id=assignment.unit_id,
        changed=["status"],
        detail={"role": assignment.role.value, "user_id": str(assignment.user_id)},
    )
    user = db.get(User, assignment.user_id)
    if user is not None:
        notify_user(user, NoticeKind.ROLE_REVOKED, {"role": assignment.role.value})


# --- operators and units ----------------------------------------------------------------------


def _validate_org_number(value: str | None) -> str | None:
    """Swedish organisationsnummer, normalised to NNNNNN-NNNN (sakskydd.identifiers)."""
    if not value:
        return None
    try:
        return normalise_org_number(value)
    except IdentifierError as exc:
        raise AdminError(str(exc)) from None


def _validate_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise AdminError("Ange ett namn (högst 200 tecken).")
    return name


def create_operator(
    actor: User | None, *, name: str, kind: OperatorKind, org_number: str | None, parent: Operator | None
) -> Operator:
    name = _validate_name(name)
    if db.scalar(select(Operator.id).where(Operator.name == name)) is not None:
        raise AdminError("Det finns redan en verksamhetsutövare med det namnet.")
    operator = Operator(
        name=name,
        kind=kind,
        org_number=_validate_org_number(org_number),
        parent_id=parent.id if parent else None,
    )
    db.add(operator)
    _flush_unique_name(operator)
    audit.record(
        Event.OPERATOR_CREATED,
        target_type="operator",
        target_id=str(operator.id),
        changed=["name", "kind", "org_number", "parent_id"],
    )
    return operator


def update_operator(
    actor: User,
    operator: Operator,
    *,
    name: str,
    org_number: str | None,
    is_active: bool,
    version: int | None,
) -> list[str]:
    _check_version(operator, version)
    values = {
        "name": _validate_name(name),
        "org_number": _validate_org_number(org_number),
        "is_active": is_active,
    }
    if values["name"] != operator.name and db.scalar(
        select(Operator.id).where(Operator.name == values["name"])
    ):
        raise AdminError("Det finns redan en verksamhetsutövare med det namnet.")
    changed = [key for key, value in values.items() if getattr(operator, key) != value]
    for key in changed:
        setattr(operator, key, values[key])
    if changed:
        _flush_unique_name(operator)
        audit.record(
            Event.OPERATOR_UPDATED, target_type="operator", target_id=str(operator.id), changed=changed
        )
    return changed


def _flush_unique_name(operator: Operator) -> None:
    """Write the operator. Operators have no parent row to serialise on (records.serialise_on), so
    two administrators giving the same name at once meet at the unique index: the second gets the
    form's message, not a server error (its insert or update is undone, the rest of the request
    stays)."""
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError:
        if operator in db.new:
            db.expunge(operator)
        raise AdminError("Det finns redan en verksamhetsutövare med det namnet.") from None


def create_unit(actor: User, operator: Operator, *, name: str, kind: UnitKind) -> OrgUnit:
    name = _validate_name(name)
    serialise_on(Operator, operator.id)  # the name check and the insert, one at a time per operator
    if db.scalar(select(OrgUnit.id).where(OrgUnit.operator_id == operator.id, OrgUnit.name == name)):
        raise AdminError("Det finns redan en enhet med det namnet hos verksamhetsutövaren.")
    unit = OrgUnit(operator_id=operator.id, name=name, kind=kind)
    db.add(unit)
    db.flush()
    audit.record(
        Event.UNIT_CREATED,
        target_type="org_unit",
        target_id=str(unit.id),
        unit_id=unit.id,
        changed=["name", "kind", "operator_id"],
    )
    return unit


def update_unit(
    actor: User, unit: OrgUnit, *, name: str, kind: UnitKind, is_active: bool, version: int | None
) -> list[str]:
    _check_version(unit, version)
    values = {"name": _validate_name(name), "kind": kind, "is_active": is_active}
    if values["name"] != unit.name:
        serialise_on(Operator, unit.operator_id)
    if values["name"] != unit.name and db.scalar(
        select(OrgUnit.id).where(OrgUnit.operator_id == unit.operator_id, OrgUnit.name == values["name"])
    ):
        raise AdminError("Det finns redan en enhet med det namnet hos verksamhetsutövaren.")
    changed = [key for key, value in values.items() if getattr(unit, key) != value]
    for key in changed:
        setattr(unit, key, values[key])
    if "is_active" in changed:
        unit.deactivated_at = None if is_active else utcnow()
    if changed:
        db.flush()
        audit.record(
            Event.UNIT_UPDATED,
            target_type="org_unit",
            target_id=str(unit.id),
            unit_id=unit.id,
            changed=changed,
        )
    return changed
