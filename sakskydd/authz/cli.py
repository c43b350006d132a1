"""`sakskydd policies check`: validate the bundle, compare it with permissions.py, run decisions.yaml.

Works without an application or a database, so an auditor can run it on a copy of `policies/`.
The expected decisions in `policies/decisions.yaml` are an independent oracle: hand-written
cases over a small fictional organisation, turned into entities here and decided by the
engine (see policies/README.md for the format).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click
import yaml
from flask.cli import AppGroup

from sakskydd.authz.engine import (
    POLICIES_DIR_ENV,
    PolicyEngine,
    PolicyError,
    bundle_files,
    check_bundle,
    default_policies_dir,
)
from sakskydd.authz.entities import (
    APPLICATION_REF,
    OPERATOR_ROLE_ATTRIBUTES,
    UNIT_ROLE_ATTRIBUTES,
    EntityRef,
    entity,
    record_attributes,
    user_attributes,
)

DECISIONS_FILE = "decisions.yaml"
PRINCIPAL_ID = "principal"
SELF = "self"
RECORD_TYPES = frozenset({"Analysis", "Asset", "Procurement", "Position", "VettingCase", "FollowUp"})
RESOURCE_KINDS = ("user", "unit", "operator", "assignment", "record")

policies = AppGroup("policies", help="Check the authorization policies (Cedar).")


@policies.command("check", with_appcontext=False)
@click.option(
    "--path",
    "policies_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=POLICIES_DIR_ENV,
    default=None,
    help=f"Policy directory (default: ${POLICIES_DIR_ENV} or the repository's policies/).",
)
@click.option(
    "--skip-decisions", is_flag=True, help=f"Do not run the expected decisions in {DECISIONS_FILE}."
)
def check_command(policies_dir: Path | None, skip_decisions: bool) -> None:
    """Validate schema and policies, compare actions with permissions.py, run decisions.yaml."""
    policies_dir = policies_dir or default_policies_dir()
    try:
        files = bundle_files(policies_dir)
    except PolicyError as exc:
        _fail([str(exc)])
    problems = check_bundle(files)
    if problems:
        _fail(problems)
    engine = PolicyEngine.from_files(files)
    click.echo(
        f"Policy bundle {policies_dir}: {len(files) - 1} policy files, {len(engine.policy_ids)} policies, "
        f"{len(engine.actions)} actions: valid."
    )
    decisions = policies_dir / DECISIONS_FILE
    if not skip_decisions:
        if not decisions.is_file():
            _fail([f"{decisions} is missing (use --skip-decisions to check without it)"])
        try:
            cases = load_decision_cases(decisions)
        except DecisionFileError as exc:
            _fail([str(exc)])
        failures = failed_decision_cases(engine, cases)
        if failures:
            _fail(failures)
        click.echo(f"Expected decisions: all {len(cases)} cases in {DECISIONS_FILE} hold.")
    click.echo(f"Bundle hash (sha256): {engine.bundle_hash}")


def _fail(messages: list[str]) -> NoReturn:
    for message in messages:
        click.echo(message, err=True)
    raise SystemExit(1)


# --- decisions.yaml ------------------------------------------------------------------------


class DecisionFileError(ValueError):
    """decisions.yaml is malformed (unknown key, unknown name, bad value)."""


@dataclass(frozen=True, slots=True)
class DecisionCase:
    """One expected decision, ready for PolicyEngine.decide."""

    name: str
    principal: EntityRef
    action: str
    resource: EntityRef
    context: dict[str, Any]
    entities: tuple[dict[str, Any], ...]
    expect_allow: bool
    # For a deny: the id of the policy that must have decided it, or "error" (malformed input).
    because: str | None = None


def load_decision_cases(path: Path) -> list[DecisionCase]:
    """Expand the matrix and the named cases of a decisions.yaml into DecisionCases."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DecisionFileError(f"cannot read {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise DecisionFileError(f"{path}: expected a mapping at the top level")
    _only_keys(document, {"defaults", "world", "roles", "matrix", "cases"}, "top level")
    world = _World(document.get("world") or {})
    default_context = dict((document.get("defaults") or {}).get("context") or {})
    roles = document.get("roles") or {}
    cases: list[DecisionCase] = []
    for row in document.get("matrix") or []:
        cases.extend(_matrix_cases(world, roles, default_context, row))
    for raw in document.get("cases") or []:
        _only_keys(raw, {"name", "principal", "action", "resource", "context", "expect", "because"}, "case")
        principal = raw["principal"]
        if isinstance(principal, str):
            principal = _lookup(roles, principal, "role")
        cases.append(
            world.case(
                name=raw["name"],
                principal=principal,
                action=raw["action"],
                resource=raw["resource"],
                context={**default_context, **(raw.get("context") or {})},
                expect=raw["expect"],
                because=raw.get("because"),
            )
        )
    names = [c.name for c in cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DecisionFileError(f"duplicate case names: {duplicates}")
    return cases


def failed_decision_cases(engine: PolicyEngine, cases: list[DecisionCase]) -> list[str]:
    """A message per case whose decision differs from the expectation."""
    failures = []
    for case in cases:
        decision = engine.decide(case.principal, case.action, case.resource, case.context, case.entities)
        detail = f"(policies {list(decision.policy_ids)}, errors {list(decision.errors)})"
        if decision.allowed != case.expect_allow:
            expected, got = ("allow", "deny") if case.expect_allow else ("deny", "allow")
            failures.append(f"{case.name}: expected {expected}, got {got} {detail}")
        elif case.because == "error" and not decision.errors:
            failures.append(f"{case.name}: expected a deny because of an error {detail}")
        elif case.because not in (None, "error") and case.because not in decision.policy_ids:
            failures.append(f"{case.name}: expected a deny by {case.because!r} {detail}")
    return failures


def _matrix_cases(
    world: _World, roles: Mapping[str, Any], default_context: Mapping[str, Any], row: Mapping[str, Any]
) -> list[DecisionCase]:
    _only_keys(row, {"action", "label", "resource", "own", "foreign", "expect", "context"}, "matrix row")
    action = row["action"]
    title = f"{action}[{row['label']}]" if row.get("label") else action
    context = {**default_context, **(row.get("context") or {})}
    # A row names one resource (global pages) or an own and a foreign one.
    resources = {"": row["resource"]} if "resource" in row else {"own": row["own"], "foreign": row["foreign"]}
    missing_roles = set(roles) - set(row["expect"])
    if missing_roles:
        raise DecisionFileError(f"matrix row {title}: no expectation for {sorted(missing_roles)}")
    cases = []
    for role, expected in row["expect"].items():
        outcomes = expected if isinstance(expected, list) else [expected]
        if len(outcomes) != len(resources):
            raise DecisionFileError(f"matrix row {title}: {role} needs {len(resources)} expectation(s)")
        for (side, resource), outcome in zip(resources.items(), outcomes, strict=True):
            name = f"{title} / {role}" + (f" / {side}" if side else "")
            cases.append(
                world.case(
                    name=name,
                    principal=_lookup(roles, role, "role"),
                    action=action,
                    resource=resource,
                    context=context,
                    expect=outcome,
                )
            )
    return cases


def _only_keys(mapping: Any, allowed: set[str], where: str) -> None:
    if not isinstance(mapping, dict):
        raise DecisionFileError(f"{where}: expected a mapping, got {mapping!r}")
    unknown = set(mapping) - allowed
    if unknown:
        raise DecisionFileError(f"{where}: unknown keys {sorted(unknown)}")


def _lookup(table: Mapping[str, Any], name: str, what: str) -> Any:
    if name not in table:
        raise DecisionFileError(f"unknown {what} {name!r}")
    return table[name]


class _World:
    """The fictional organisation of decisions.yaml, as Cedar entities."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        _only_keys(raw, {"operators", "units", "users", "assignments", "records"}, "world")
        self.operators: dict[str, Any] = raw.get("operators") or {}
        self.units: dict[str, Any] = raw.get("units") or {}
        self.users: dict[str, Any] = raw.get("users") or {}
        self.assignments: dict[str, Any] = raw.get("assignments") or {}
        self.records: dict[str, Any] = raw.get("records") or {}
        self.entities: dict[EntityRef, dict[str, Any]] = {}
        for name, spec in self.operators.items():
            _only_keys(spec, {"kind", "parent"}, f"operator {name}")
            parents = [self.operator(spec["parent"])] if spec.get("parent") else []
            self.entities[self.operator(name)] = entity(self.operator(name), {"kind": spec["kind"]}, parents)
        for name, spec in self.units.items():
            _only_keys(spec, {"operator", "classification"}, f"unit {name}")
            operator = self.operator(spec["operator"])
            attrs = {"operator": operator, "classification": spec.get("classification", 0)}
            self.entities[self.unit(name)] = entity(self.unit(name), attrs, [operator])
        for name, spec in self.users.items():
            self.entities[EntityRef("User", name)] = self.user_entity(EntityRef("User", name), spec)
        for name, spec in self.assignments.items():
            self.entities[EntityRef("RoleAssignment", name)] = self.assignment_entity(name, spec, None)
        for name, spec in self.records.items():
            _only_keys(
                spec,
                {"type", "unit", "classification", "created_by", "authors", "responsible"},
                f"record {name}",
            )
            if spec["type"] not in RECORD_TYPES:
                raise DecisionFileError(f"record {name}: type must be one of {sorted(RECORD_TYPES)}")
            self.entities[EntityRef(spec["type"], name)] = self.record_entity(name, spec, None)

    def operator(self, name: str) -> EntityRef:
        _lookup(self.operators, name, "operator")
        return EntityRef("Operator", name)

    def unit(self, name: str) -> EntityRef:
        _lookup(self.units, name, "unit")
        return EntityRef("Unit", name)

    def user(self, name: str, principal: EntityRef | None) -> EntityRef:
        if name == SELF:
            if principal is None:
                raise DecisionFileError("'self' is only meaningful inside a case")
            return principal
        _lookup(self.users, name, "user")
        return EntityRef("User", name)

    def user_entity(self, ref: EntityRef, spec: Mapping[str, Any]) -> dict[str, Any]:
        _only_keys(spec, {"home", "clearance", "active", "roles", "omit", "set"}, f"user {ref.id}")
        unit_roles: dict[str, list[EntityRef]] = {}
        operator_roles: dict[str, list[EntityRef]] = {}
        for role, scopes in (spec.get("roles") or {}).items():
            if role in UNIT_ROLE_ATTRIBUTES:
                unit_roles[role] = [self.unit(s) for s in scopes]
            elif role in OPERATOR_ROLE_ATTRIBUTES:
                operator_roles[role] = [self.operator(s) for s in scopes]
            else:
                raise DecisionFileError(f"user {ref.id}: unknown role {role!r}")
        home = self.operator(spec["home"])
        attrs = user_attributes(
            active=spec.get("active", True),
            clearance=spec.get("clearance", 0),
            operator=home,
            unit_roles=unit_roles,
            operator_roles=operator_roles,
            admin_operator_kinds={self.operators[o.id]["kind"] for o in operator_roles.get("admin", [])},
        )
        return _adjust(entity(ref, attrs, [home]), spec)

    def assignment_entity(
        self, name: str, spec: Mapping[str, Any], principal: EntityRef | None
    ) -> dict[str, Any]:
        allowed = {"user", "requested_by", "role", "scope", "classification", "omit", "set"}
        _only_keys(spec, allowed, "assignment")
        scope = spec["scope"]
        # A unit role's scope operator is the unit's operator.
        operator = self.operator(self.units[scope]["operator"] if scope in self.units else scope)
        attrs = {
            "user": self.user(spec["user"], principal),
            "requested_by": self.user(spec["requested_by"], principal),
            "role": spec["role"],
            "classification": spec.get("classification", 0),
        }
        return _adjust(entity(EntityRef("RoleAssignment", name), attrs, [operator]), spec)

    def record_entity(
        self, name: str, spec: Mapping[str, Any], principal: EntityRef | None
    ) -> dict[str, Any]:
        unit = self.unit(spec["unit"])
        attrs = record_attributes(
            spec["type"],
            unit=unit,
            classification=spec.get("classification", 0),
            created_by=self.user(spec.get("created_by", "kollega"), principal),
            authors=[self.user(a, principal) for a in spec.get("authors") or []],
            responsible=self.user(spec["responsible"], principal) if "responsible" in spec else None,
        )
        return entity(EntityRef(spec["type"], name), attrs, [unit])

    def case(
        self,
        *,
        name: str,
        principal: Mapping[str, Any],
        action: str,
        resource: Any,
        context: Mapping[str, Any],
        expect: str,
        because: str | None = None,
    ) -> DecisionCase:
        if expect not in ("allow", "deny"):
            raise DecisionFileError(f"{name}: expect must be allow or deny, not {expect!r}")
        if because is not None and expect != "deny":
            raise DecisionFileError(f"{name}: 'because' explains a deny")
        me = EntityRef("User", PRINCIPAL_ID)
        entities = dict(self.entities)
        entities[me] = self.user_entity(me, principal)
        resource_ref = self._resource(name, resource, me, entities)
        return DecisionCase(
            name=name,
            principal=me,
            action=action,
            resource=resource_ref,
            # A null in the yaml leaves the key out (a request missing part of its context).
            context={k: v for k, v in context.items() if v is not None},
            entities=tuple(entities.values()),
            expect_allow=expect == "allow",
            because=because,
        )

    def _resource(
        self, name: str, raw: Any, me: EntityRef, entities: dict[EntityRef, dict[str, Any]]
    ) -> EntityRef:
        if raw == "application":
            return APPLICATION_REF
        kinds = [k for k in RESOURCE_KINDS if k in raw]
        _only_keys(raw, {*RESOURCE_KINDS, "omit", "set"}, f"{name}: resource")
        if len(kinds) != 1:
            raise DecisionFileError(
                f"{name}: a resource names exactly one of user/unit/operator/assignment/record"
            )
        kind, value = kinds[0], raw[kinds[0]]
        if kind == "record" and isinstance(value, dict):
            if value.get("type") not in RECORD_TYPES:
                raise DecisionFileError(f"{name}: record type must be one of {sorted(RECORD_TYPES)}")
            ref = EntityRef(value["type"], f"{name}:record")
            entities[ref] = self.record_entity(ref.id, value, me)
        elif kind == "record":
            spec = _lookup(self.records, value, "record")
            ref = EntityRef(spec["type"], value)
        elif kind == "user":
            ref = self.user(value, me)
        elif kind == "unit":
            ref = self.unit(value)
        elif kind == "operator":
            ref = self.operator(value)
        elif isinstance(value, dict):
            ref = EntityRef("RoleAssignment", f"{name}:assignment")
            entities[ref] = self.assignment_entity(ref.id, value, me)
        else:
            _lookup(self.assignments, value, "assignment")
            ref = EntityRef("RoleAssignment", value)
        if "omit" in raw or "set" in raw:
            entities[ref] = _adjust(entities[ref], raw)
        return ref


def _adjust(built: dict[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """Apply `omit: [attr, …]` and `set: {attr: raw value}` (malformed-entity cases)."""
    attrs = {k: v for k, v in built["attrs"].items() if k not in (spec.get("omit") or [])}
    attrs.update(spec.get("set") or {})
    return {**built, "attrs": attrs}
