"""PolicyEngine: deny by default, every error is a Deny, decisions name their policies."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import cedarpy
import pytest

from sakskydd.authz import engine as engine_module
from sakskydd.authz import permissions as perm
from sakskydd.authz.engine import DEFAULT_POLICIES_DIR, PolicyEngine, default_policies_dir
from sakskydd.authz.entities import (
    APPLICATION_REF,
    EntityRef,
    application_entity,
    entity,
    user_attributes,
)

KOMMUN = EntityRef("Operator", "kommun")
BOLAG = EntityRef("Operator", "bolag")
UNIT = EntityRef("Unit", "unit")
ME = EntityRef("User", "me")
OTHER = EntityRef("User", "other")
PENDING = EntityRef("RoleAssignment", "pending")
ANALYSIS = EntityRef("Analysis", "analysis")
ASSET = EntityRef("Asset", "asset")
PROCUREMENT = EntityRef("Procurement", "procurement")
POSITION = EntityRef("Position", "position")
VETTING_CASE = EntityRef("VettingCase", "vetting_case")
FOLLOW_UP = EntityRef("FollowUp", "follow_up")
FRESH = {"mfa": True, "auth_age_seconds": 10}
STALE = {"mfa": True, "auth_age_seconds": 301}


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.load(DEFAULT_POLICIES_DIR)


def world(**me_overrides: Any) -> list[dict[str, Any]]:
    """An all-powerful principal (admin + revisor of a kommun, top clearance) and some resources."""
    me_attrs = user_attributes(
        active=True,
        clearance=4,
        operator=KOMMUN,
        operator_roles={"admin": [KOMMUN], "revisor": [KOMMUN], "chef": [KOMMUN, BOLAG]},
        unit_roles={"samordnare": [UNIT], "upphandlare": [UNIT]},
        admin_operator_kinds={"kommun"},
    )
    me_attrs.update(me_overrides)
    other_attrs = user_attributes(active=True, clearance=0, operator=BOLAG)
    return [
        entity(KOMMUN, {"kind": "kommun"}),
        entity(BOLAG, {"kind": "bolag"}, [KOMMUN]),
        entity(UNIT, {"operator": BOLAG, "classification": 0}, [BOLAG]),
        entity(ME, me_attrs, [KOMMUN]),
        entity(OTHER, other_attrs, [BOLAG]),
        entity(
            PENDING,
            {"user": OTHER, "requested_by": EntityRef("User", "x"), "role": "chef", "classification": 0},
            [KOMMUN],
        ),
        entity(
            ANALYSIS,
            {"unit": UNIT, "classification": 0, "created_by": OTHER, "authors": frozenset({OTHER})},
            [UNIT],
        ),
        entity(ASSET, {"unit": UNIT, "classification": 0, "created_by": OTHER}, [UNIT]),
        entity(
            PROCUREMENT,
            {
                "unit": UNIT,
                "classification": 0,
                "created_by": ME,
                "responsible": ME,
                "authors": frozenset({OTHER}),
            },
            [UNIT],
        ),
        entity(POSITION, {"unit": UNIT, "classification": 0, "created_by": OTHER}, [UNIT]),
        entity(
            VETTING_CASE,
            {"unit": UNIT, "classification": 0, "created_by": OTHER, "authors": frozenset({OTHER})},
            [UNIT],
        ),
        entity(
            FOLLOW_UP,
            {"unit": UNIT, "classification": 0, "created_by": OTHER, "authors": frozenset({OTHER})},
            [UNIT],
        ),
        application_entity(),
    ]


def sample_resource(action: str) -> EntityRef:
    kind = sorted(perm.ACTION_RESOURCE_TYPES[action])[0]
    if action.startswith("account.") or action == perm.NOTICE_ACKNOWLEDGE:
        return ME
    return {
        "Application": APPLICATION_REF,
        "User": OTHER,
        "Operator": BOLAG,
        "Unit": UNIT,
        "RoleAssignment": PENDING,
        "Analysis": ANALYSIS,
        "Asset": ASSET,
        "Procurement": PROCUREMENT,
        "Position": POSITION,
        "VettingCase": VETTING_CASE,
        "FollowUp": FOLLOW_UP,
    }[kind]


def test_allow_names_the_deciding_policy_and_the_bundle(engine: PolicyEngine) -> None:
    decision = engine.decide(ME, perm.HOME_VIEW, APPLICATION_REF, FRESH, world())
    assert decision.allowed
    assert decision.policy_ids == ("account.home",)
    assert decision.errors == ()
    assert decision.bundle_hash == engine.bundle_hash


def test_deny_by_default_has_no_policy_ids(engine: PolicyEngine) -> None:
    decision = engine.decide(OTHER, perm.ADMIN_USER_LIST, APPLICATION_REF, FRESH, world())
    assert not decision.allowed
    assert decision.policy_ids == ()
    assert decision.errors == ()


@pytest.mark.parametrize("action", sorted(perm.ALL_ACTIONS))
def test_every_action_is_allowed_to_someone_when_fresh(engine: PolicyEngine, action: str) -> None:
    decision = engine.decide(ME, action, sample_resource(action), FRESH, world())
    assert decision.allowed, decision


@pytest.mark.parametrize("action", sorted(perm.ALL_ACTIONS))
def test_step_up_forbid_applies_exactly_to_step_up_actions(engine: PolicyEngine, action: str) -> None:
    decision = engine.decide(ME, action, sample_resource(action), STALE, world())
    assert ("baseline.step_up_required" in decision.policy_ids) == (action in perm.STEP_UP_ACTIONS)
    assert decision.allowed == (action not in perm.STEP_UP_ACTIONS)


def test_user_missing_clearance_is_denied_even_the_start_page(engine: PolicyEngine) -> None:
    entities = world()
    me = next(e for e in entities if e["uid"]["id"] == "me")
    del me["attrs"]["clearance"]
    decision = engine.decide(ME, perm.HOME_VIEW, APPLICATION_REF, FRESH, entities)
    assert not decision.allowed
    assert decision.errors


def test_errors_do_not_echo_the_entity_document(engine: PolicyEngine) -> None:
    entities = world()
    entities[3]["attrs"]["clearance"] = "4"
    decision = engine.decide(ME, perm.HOME_VIEW, APPLICATION_REF, FRESH, entities)
    assert not decision.allowed
    assert all('"attrs"' not in error and len(error) <= 500 for error in decision.errors)


def test_unknown_principal_is_denied(engine: PolicyEngine) -> None:
    decision = engine.decide(EntityRef("User", "ghost"), perm.HOME_VIEW, APPLICATION_REF, FRESH, world())
    assert not decision.allowed
    assert decision.errors


def test_unknown_action_is_denied(engine: PolicyEngine) -> None:
    decision = engine.decide(ME, "admin.everything", APPLICATION_REF, FRESH, world())
    assert not decision.allowed
    assert decision.errors == ("unknown action 'admin.everything'",)


def test_the_step_up_group_is_not_an_action(engine: PolicyEngine) -> None:
    assert not engine.decide(ME, perm.STEP_UP_GROUP, APPLICATION_REF, FRESH, world()).allowed


@pytest.mark.parametrize(
    "context",
    [
        {},
        {"mfa": True},
        {"auth_age_seconds": 1},
        {"mfa": 1, "auth_age_seconds": 1},
        {"mfa": True, "auth_age_seconds": 1, "extra": 1},
    ],
)
def test_malformed_context_is_denied(engine: PolicyEngine, context: dict[str, Any]) -> None:
    assert not engine.decide(ME, perm.HOME_VIEW, APPLICATION_REF, context, world()).allowed


def test_identical_duplicate_entities_are_merged(engine: PolicyEngine) -> None:
    entities = world() + world()
    assert engine.decide(ME, perm.HOME_VIEW, APPLICATION_REF, FRESH, entities).allowed


def test_conflicting_duplicate_entities_are_denied(engine: PolicyEngine) -> None:
    entities = [*world(), entity(KOMMUN, {"kind": "bolag"})]
    decision = engine.decide(ME, perm.HOME_VIEW, APPLICATION_REF, FRESH, entities)
    assert not decision.allowed
    assert "conflicting" in decision.errors[0]


def test_malformed_entity_is_denied(engine: PolicyEngine) -> None:
    decision = engine.decide(ME, perm.HOME_VIEW, APPLICATION_REF, FRESH, [*world(), {"attrs": {}}])
    assert not decision.allowed


def test_application_entity_is_implicit(engine: PolicyEngine) -> None:
    entities = [e for e in world() if e["uid"]["type"] != "Sakskydd::Application"]
    assert engine.decide(ME, perm.HOME_VIEW, APPLICATION_REF, FRESH, entities).allowed


def test_an_erroring_forbid_still_denies(tmp_path: Path) -> None:
    """Cedar skips a forbid whose evaluation errors; the engine must turn that error into Deny."""
    bundle = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICIES_DIR, bundle)
    # Validates (Long * Long), but overflows at run time for any clearance above 1.
    (bundle / "zz_overflow.cedar").write_text(
        '@id("test.overflow")\n'
        "forbid (principal, action, resource) when { principal.clearance * 9223372036854775807 > 0 };\n"
    )
    engine = PolicyEngine.load(bundle)
    request = {
        "principal": ME.to_cedar(),
        "action": {"type": "Sakskydd::Action", "id": perm.HOME_VIEW},
        "resource": APPLICATION_REF.to_cedar(),
        "context": FRESH,
    }
    policies = "\n".join(p.read_text() for p in sorted(bundle.glob("*.cedar")))
    raw = cedarpy.is_authorized(
        request, policies, world(), schema=(bundle / "schema.cedarschema").read_text()
    )
    assert raw.allowed and raw.diagnostics.errors  # plain Cedar lets it through

    decision = engine.decide(ME, perm.HOME_VIEW, APPLICATION_REF, FRESH, world())
    assert not decision.allowed
    assert any("test.overflow" in error for error in decision.errors)


def test_a_failing_cedar_call_is_a_deny(engine: PolicyEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(engine_module.cedarpy, "is_authorized_batch", explode)
    decision = engine.decide(ME, perm.HOME_VIEW, APPLICATION_REF, FRESH, world())
    assert not decision.allowed
    assert decision.errors == ("policy evaluation failed: RuntimeError",)


def test_batch_decides_each_resource(engine: PolicyEngine) -> None:
    stranger = EntityRef("User", "stranger")
    entities = [
        *world(),
        entity(
            stranger,
            user_attributes(active=True, clearance=0, operator=EntityRef("Operator", "elsewhere")),
            [EntityRef("Operator", "elsewhere")],
        ),
        entity(EntityRef("Operator", "elsewhere"), {"kind": "kommun"}),
    ]
    decisions = engine.decide_batch(ME, perm.ADMIN_USER_READ, [OTHER, stranger, ME], FRESH, entities)
    assert [d.allowed for d in decisions] == [True, False, True]
    assert decisions[0].policy_ids == ("admin.user.manage",)


def test_batch_of_nothing_is_empty(engine: PolicyEngine) -> None:
    assert engine.decide_batch(ME, perm.ADMIN_USER_READ, [], FRESH, world()) == []


def test_batch_with_unknown_action_denies_all(engine: PolicyEngine) -> None:
    decisions = engine.decide_batch(ME, "nope", [OTHER, ME], FRESH, world())
    assert [d.allowed for d in decisions] == [False, False]


def test_policies_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SAKSKYDD_POLICIES_DIR", str(tmp_path))
    assert default_policies_dir() == tmp_path
    monkeypatch.delenv("SAKSKYDD_POLICIES_DIR")
    assert default_policies_dir() == DEFAULT_POLICIES_DIR
