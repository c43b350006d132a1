"""Entities built from the database: fresh on every call, only ACTIVE roles, operator ancestry."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment, User
from sakskydd.authz import permissions as perm
from sakskydd.authz.engine import DEFAULT_POLICIES_DIR, PolicyEngine
from sakskydd.authz.entities import (
    SYSTEM_USER_ID,
    EntityRef,
    operator_entity,
    operator_ref,
    resource_entities,
    role_assignment_entity,
    unit_entity,
    unit_ref,
    user_entity,
    user_ref,
)
from sakskydd.extensions import make_engine
from sakskydd.organisations.models import Operator, OperatorKind, OrgUnit, UnitKind
from tests.dbutil import create_schema

pytestmark = pytest.mark.db

FRESH = {"mfa": True, "auth_age_seconds": 10}


@pytest.fixture
def db_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'authz.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(db_engine: Engine) -> Iterator[Session]:
    with Session(db_engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture(scope="module")
def policy_engine() -> PolicyEngine:
    return PolicyEngine.load(DEFAULT_POLICIES_DIR)


class Org:
    """A kommun with a bolag under it, a unit in each, and a few people."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.stad = Operator(name="Stockholms stad", kind=OperatorKind.KOMMUN)
        self.bolag = Operator(name="Stockholmshem AB", kind=OperatorKind.BOLAG, parent=self.stad)
        self.other = Operator(name="Grannkommun", kind=OperatorKind.KOMMUN)
        self.enhet = OrgUnit(name="Kulturförvaltningen", kind=UnitKind.FACKNAMND, operator=self.stad)
        self.bolag_enhet = OrgUnit(name="Stockholmshem", kind=UnitKind.BOLAG, operator=self.bolag)
        session.add_all([self.stad, self.bolag, self.other, self.enhet, self.bolag_enhet])
        session.flush()
        self.admin = self.user("admin", self.stad, clearance=2)
        self.anna = self.user("anna", self.bolag)

    def user(self, username: str, operator: Operator, **kwargs: Any) -> User:
        user = User(
            username=username,
            display_name=username.title(),
            email=f"{username}@example.se",
            operator=operator,
            **kwargs,
        )
        self.session.add(user)
        self.session.flush()
        return user

    def grant(
        self,
        user: User,
        role: Role,
        scope: Operator | OrgUnit,
        status: AssignmentStatus = AssignmentStatus.ACTIVE,
        granted_by: User | None = None,
    ) -> RoleAssignment:
        scope_kwargs = {"unit": scope} if isinstance(scope, OrgUnit) else {"operator": scope}
        assignment = RoleAssignment(
            user=user, role=role, status=status, granted_by=granted_by, **scope_kwargs
        )
        self.session.add(assignment)
        self.session.flush()
        return assignment


@pytest.fixture
def org(session: Session) -> Org:
    org = Org(session)
    session.commit()
    return org


def by_ref(entities: list[dict[str, Any]], ref: EntityRef) -> dict[str, Any]:
    matches = [e for e in entities if e["uid"] == ref.to_cedar()]
    assert len(matches) == 1, f"{ref} appears {len(matches)} times"
    return matches[0]


def refs(values: list[dict[str, Any]]) -> set[str]:
    return {v["__entity"]["id"] for v in values}


def test_user_entity_has_every_schema_attribute(session: Session, org: Org) -> None:
    me = by_ref(user_entity(session, org.anna), user_ref(org.anna))
    assert me["attrs"] == {
        "active": True,
        "clearance": 0,
        "operator": operator_ref(org.bolag).to_attr(),
        "samordnare_units": [],
        "ersattare_units": [],
        "upphandlare_units": [],
        "chef_operators": [],
        "revisor_operators": [],
        "admin_operators": [],
        "admin_operator_kinds": [],
    }
    assert me["parents"] == [operator_ref(org.bolag).to_cedar()]


def test_user_entity_includes_the_operator_chain(session: Session, org: Org) -> None:
    entities = user_entity(session, org.anna)
    bolag = by_ref(entities, operator_ref(org.bolag))
    assert bolag["attrs"] == {"kind": "bolag"}
    assert bolag["parents"] == [operator_ref(org.stad).to_cedar()]
    assert by_ref(entities, operator_ref(org.stad))["parents"] == []


def test_only_active_assignments_become_roles(session: Session, org: Org) -> None:
    org.grant(org.anna, Role.SAMORDNARE, org.bolag_enhet)
    org.grant(org.anna, Role.ERSATTARE, org.enhet, status=AssignmentStatus.PENDING)
    org.grant(org.anna, Role.CHEF, org.bolag, status=AssignmentStatus.REVOKED)
    org.grant(org.anna, Role.ADMIN, org.stad, status=AssignmentStatus.REJECTED)
    org.grant(org.anna, Role.REVISOR, org.bolag)
    session.commit()
    attrs = by_ref(user_entity(session, org.anna), user_ref(org.anna))["attrs"]
    assert refs(attrs["samordnare_units"]) == {str(org.bolag_enhet.id)}
    assert attrs["ersattare_units"] == []
    assert attrs["chef_operators"] == []
    assert attrs["admin_operators"] == []
    assert refs(attrs["revisor_operators"]) == {str(org.bolag.id)}


def test_admin_operator_kinds_follow_the_admin_operators(session: Session, org: Org) -> None:
    org.grant(org.anna, Role.ADMIN, org.bolag)
    session.commit()
    assert by_ref(user_entity(session, org.anna), user_ref(org.anna))["attrs"]["admin_operator_kinds"] == [
        "bolag"
    ]
    org.grant(org.admin, Role.ADMIN, org.stad)
    session.commit()
    assert by_ref(user_entity(session, org.admin), user_ref(org.admin))["attrs"]["admin_operator_kinds"] == [
        "kommun"
    ]


def test_roles_in_deactivated_units_or_operators_do_not_count(session: Session, org: Org) -> None:
    org.grant(org.anna, Role.SAMORDNARE, org.bolag_enhet)
    org.grant(org.anna, Role.CHEF, org.bolag)
    session.commit()
    session.execute(update(OrgUnit).where(OrgUnit.id == org.bolag_enhet.id).values(is_active=False))
    session.execute(update(Operator).where(Operator.id == org.bolag.id).values(is_active=False))
    session.commit()
    attrs = by_ref(user_entity(session, org.anna), user_ref(org.anna))["attrs"]
    assert attrs["samordnare_units"] == []
    assert attrs["chef_operators"] == []


def test_referenced_units_come_with_their_operators(session: Session, org: Org) -> None:
    org.grant(org.admin, Role.UPPHANDLARE, org.bolag_enhet)
    session.commit()
    entities = user_entity(session, org.admin)
    unit = by_ref(entities, unit_ref(org.bolag_enhet))
    assert unit["attrs"] == {"operator": operator_ref(org.bolag).to_attr(), "classification": 0}
    by_ref(entities, operator_ref(org.bolag))
    by_ref(entities, operator_ref(org.stad))


def test_entities_are_read_fresh_not_from_loaded_objects(
    db_engine: Engine, session: Session, org: Org
) -> None:
    org.grant(org.admin, Role.ADMIN, org.stad)
    session.commit()
    assert org.admin.is_active  # the object in this session keeps its loaded state
    with Session(db_engine) as other:
        other.execute(update(User).where(User.id == org.admin.id).values(is_active=False, clearance=4))
        other.execute(
            update(RoleAssignment)
            .where(RoleAssignment.user_id == org.admin.id)
            .values(status=AssignmentStatus.REVOKED)
        )
        other.commit()
    attrs = by_ref(user_entity(session, org.admin), user_ref(org.admin))["attrs"]
    assert attrs["active"] is False
    assert attrs["clearance"] == 4
    assert attrs["admin_operators"] == []


def test_a_revoked_role_stops_working_on_the_next_decision(
    session: Session, org: Org, policy_engine: PolicyEngine
) -> None:
    assignment = org.grant(org.admin, Role.ADMIN, org.stad)
    session.commit()

    def may_read_anna() -> bool:
        entities = user_entity(session, org.admin) + user_entity(session, org.anna)
        return policy_engine.decide(
            user_ref(org.admin), perm.ADMIN_USER_READ, user_ref(org.anna), FRESH, entities
        ).allowed

    assert may_read_anna()  # anna's bolag is under the kommun the admin administers
    session.execute(
        update(RoleAssignment)
        .where(RoleAssignment.id == assignment.id)
        .values(status=AssignmentStatus.REVOKED)
    )
    session.commit()
    assert not may_read_anna()


def test_a_user_that_no_longer_exists_has_no_entity(session: Session, org: Org) -> None:
    assert user_entity(session, uuid.uuid4()) == []
    assert unit_entity(session, uuid.uuid4()) == []
    assert role_assignment_entity(session, uuid.uuid4()) == []


def test_operator_and_unit_entities(session: Session, org: Org) -> None:
    assert {e["uid"]["id"] for e in operator_entity(session, org.bolag)} == {
        str(org.bolag.id),
        str(org.stad.id),
    }
    assert {e["uid"]["id"] for e in operator_entity(session, org.other)} == {str(org.other.id)}
    entities = unit_entity(session, org.bolag_enhet)
    assert by_ref(entities, unit_ref(org.bolag_enhet))["parents"] == [operator_ref(org.bolag).to_cedar()]
    by_ref(entities, operator_ref(org.stad))


def test_role_assignment_entity_is_scoped_to_the_operator(session: Session, org: Org) -> None:
    unit_role = org.grant(
        org.anna, Role.SAMORDNARE, org.bolag_enhet, AssignmentStatus.PENDING, granted_by=org.admin
    )
    operator_role = org.grant(org.anna, Role.CHEF, org.stad, AssignmentStatus.PENDING)
    session.commit()
    ref, entities = resource_entities(session, unit_role)
    built = by_ref(entities, ref)
    assert built["attrs"] == {
        "user": user_ref(org.anna).to_attr(),
        "requested_by": user_ref(org.admin).to_attr(),
        "role": "samordnare",
        "classification": 0,
    }
    assert built["parents"] == [operator_ref(org.bolag).to_cedar()]
    by_ref(entities, operator_ref(org.stad))
    built = by_ref(
        role_assignment_entity(session, operator_role), EntityRef("RoleAssignment", str(operator_role.id))
    )
    assert built["attrs"]["requested_by"] == EntityRef("User", SYSTEM_USER_ID).to_attr()
    assert built["parents"] == [operator_ref(org.stad).to_cedar()]


def test_resource_entities_dispatch_on_the_model(session: Session, org: Org) -> None:
    assert resource_entities(session, org.anna)[0] == user_ref(org.anna)
    assert resource_entities(session, org.enhet)[0] == unit_ref(org.enhet)
    assert resource_entities(session, org.stad)[0] == operator_ref(org.stad)
    with pytest.raises(TypeError):
        resource_entities(session, object())


def test_two_person_rule_end_to_end(session: Session, org: Org, policy_engine: PolicyEngine) -> None:
    org.grant(org.admin, Role.ADMIN, org.stad)
    second = org.user("second", org.stad)
    org.grant(second, Role.ADMIN, org.stad)
    request = org.grant(org.anna, Role.ADMIN, org.bolag, AssignmentStatus.PENDING, granted_by=org.admin)
    session.commit()

    def may_approve(user: User) -> bool:
        ref, resource = resource_entities(session, request)
        entities = user_entity(session, user) + resource
        return policy_engine.decide(user_ref(user), perm.ADMIN_ROLE_APPROVE, ref, FRESH, entities).allowed

    assert not may_approve(org.admin)
    assert may_approve(second)


def test_building_a_user_takes_few_queries(db_engine: Engine, session: Session, org: Org) -> None:
    org.grant(org.admin, Role.ADMIN, org.stad)
    org.grant(org.admin, Role.SAMORDNARE, org.bolag_enhet)
    org.grant(org.admin, Role.CHEF, org.bolag)
    session.commit()
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db_engine, "before_cursor_execute", count)
    try:
        user_entity(session, org.admin)
    finally:
        event.remove(db_engine, "before_cursor_execute", count)
    # The user's row with its assignments, and the operators with their ancestors.
    assert len([s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]) == 2
