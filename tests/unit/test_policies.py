"""The policy bundle: the expected decisions in policies/decisions.yaml, and bundle loading."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sakskydd.authz import permissions as perm
from sakskydd.authz.cli import DecisionCase, failed_decision_cases, load_decision_cases
from sakskydd.authz.engine import (
    DEFAULT_POLICIES_DIR,
    PolicyEngine,
    PolicyError,
    compute_bundle_hash,
    schema_actions,
    vocabulary_problems,
)

DECISIONS = DEFAULT_POLICIES_DIR / "decisions.yaml"
CASES = load_decision_cases(DECISIONS)


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.load(DEFAULT_POLICIES_DIR)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A writable copy of the real bundle."""
    target = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICIES_DIR, target)
    return target


# --- the oracle ------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_expected_decision(engine: PolicyEngine, case: DecisionCase) -> None:
    assert failed_decision_cases(engine, [case]) == []


def test_matrix_covers_every_action_for_every_role() -> None:
    roles = {"samordnare", "ersattare", "upphandlare", "chef", "revisor", "admin"}
    covered = {(c.action, c.name.split(" / ")[1]) for c in CASES if " / " in c.name}
    assert covered == {(action, role) for action in perm.ALL_ACTIONS for role in roles}


def test_every_step_up_action_has_a_stale_case_that_is_denied() -> None:
    stale = [c for c in CASES if c.context.get("auth_age_seconds", 0) > perm.STEP_UP_MAX_AGE_SECONDS]
    assert {c.action for c in stale} >= perm.STEP_UP_ACTIONS
    assert not any(c.expect_allow for c in stale if c.action in perm.STEP_UP_ACTIONS)


def test_the_step_up_limit_in_code_is_the_policy_limit(engine: PolicyEngine) -> None:
    """The redirect to step-up (Python) and the Deny (Cedar) use the same number of seconds."""
    case = next(c for c in CASES if c.action in perm.STEP_UP_ACTIONS and c.expect_allow)

    def aged(seconds: int, allow: bool) -> DecisionCase:
        context = {**case.context, "auth_age_seconds": seconds}
        return DecisionCase(**{**_fields(case), "context": context, "expect_allow": allow, "because": None})

    limit = perm.STEP_UP_MAX_AGE_SECONDS
    assert failed_decision_cases(engine, [aged(limit, True), aged(limit + 1, False)]) == []


def test_oracle_notices_a_wrong_expectation(engine: PolicyEngine) -> None:
    case = next(c for c in CASES if c.name == "admin cannot disable themselves")
    flipped = DecisionCase(**{**_fields(case), "expect_allow": True, "because": None})
    assert failed_decision_cases(engine, [flipped])


def test_oracle_notices_a_deny_for_another_reason(engine: PolicyEngine) -> None:
    case = next(c for c in CASES if c.name == "admin cannot disable themselves")
    wrong_reason = DecisionCase(**{**_fields(case), "because": "baseline.mfa_required"})
    assert failed_decision_cases(engine, [wrong_reason])


def _fields(case: DecisionCase) -> dict[str, object]:
    return {name: getattr(case, name) for name in DecisionCase.__dataclass_fields__}


# --- loading the bundle ----------------------------------------------------------------


def test_the_shipped_bundle_loads_with_readable_policy_ids(engine: PolicyEngine) -> None:
    assert "baseline.principal_inactive" in engine.policy_ids
    assert all("." in policy_id for policy_id in engine.policy_ids)
    assert engine.actions == perm.ALL_ACTIONS


def test_permissions_and_schema_agree() -> None:
    import cedarpy

    schema = cedarpy.Schema.from_str((DEFAULT_POLICIES_DIR / "schema.cedarschema").read_text())
    actions = schema_actions(schema)
    assert vocabulary_problems(actions) == []
    assert {a for a, spec in actions.items() if not spec.is_group} == perm.ALL_ACTIONS
    assert {a for a, spec in actions.items() if perm.STEP_UP_GROUP in spec.groups} == perm.STEP_UP_ACTIONS
    for action in perm.ALL_ACTIONS:
        assert actions[action].resource_types == perm.ACTION_RESOURCE_TYPES[action]


def test_invalid_policy_refuses_to_load(bundle: Path) -> None:
    (bundle / "zz_broken.cedar").write_text(
        '@id("broken")\npermit (principal, action, resource) when { principal.no_such_attribute };\n'
    )
    with pytest.raises(PolicyError, match="zz_broken.cedar"):
        PolicyEngine.load(bundle)


def test_unparsable_policy_refuses_to_load(bundle: Path) -> None:
    (bundle / "zz_garbage.cedar").write_text("permit (principal, action resource;\n")
    with pytest.raises(PolicyError, match="zz_garbage.cedar"):
        PolicyEngine.load(bundle)


def test_policy_without_id_refuses_to_load(bundle: Path) -> None:
    (bundle / "zz_anonymous.cedar").write_text(
        'permit (principal, action == Sakskydd::Action::"home.view", resource);\n'
    )
    with pytest.raises(PolicyError, match="no @id"):
        PolicyEngine.load(bundle)


def test_duplicate_policy_id_refuses_to_load(bundle: Path) -> None:
    (bundle / "zz_duplicate.cedar").write_text(
        '@id("account.home")\npermit (principal, action == Sakskydd::Action::"home.view", resource);\n'
    )
    with pytest.raises(PolicyError, match="already used"):
        PolicyEngine.load(bundle)


def test_templates_refuse_to_load(bundle: Path) -> None:
    (bundle / "zz_template.cedar").write_text(
        '@id("tpl")\npermit (principal == ?principal, action == Sakskydd::Action::"home.view", resource);\n'
    )
    with pytest.raises(PolicyError, match="templates"):
        PolicyEngine.load(bundle)


def test_no_policy_files_refuses_to_load(bundle: Path) -> None:
    for path in bundle.glob("*.cedar"):
        path.unlink()
    with pytest.raises(PolicyError, match="no \\*.cedar"):
        PolicyEngine.load(bundle)


def test_policy_files_without_policies_refuse_to_load(bundle: Path) -> None:
    for path in bundle.glob("*.cedar"):
        path.write_text("// nothing here\n")
    with pytest.raises(PolicyError, match="no policies"):
        PolicyEngine.load(bundle, check_vocabulary=False)


def test_missing_schema_refuses_to_load(bundle: Path) -> None:
    (bundle / "schema.cedarschema").unlink()
    with pytest.raises(PolicyError, match="schema.cedarschema"):
        PolicyEngine.load(bundle)


def test_missing_directory_refuses_to_load(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="does not exist"):
        PolicyEngine.load(tmp_path / "nowhere")


def test_schema_action_unknown_to_permissions_refuses_to_load(bundle: Path) -> None:
    schema = bundle / "schema.cedarschema"
    schema.write_text(
        schema.read_text().replace(
            '  action "home.view"',
            '  action "secret.backdoor" appliesTo { principal: User, resource: Application, '
            "context: RequestContext };\n"
            '  action "home.view"',
        )
    )
    with pytest.raises(PolicyError, match="secret.backdoor"):
        PolicyEngine.load(bundle)


def test_step_up_group_must_match_permissions(bundle: Path) -> None:
    schema = bundle / "schema.cedarschema"
    schema.write_text(
        schema.read_text().replace(
            'action "admin.clearance.set" in ["group.step_up"]', 'action "admin.clearance.set"'
        )
    )
    with pytest.raises(PolicyError, match="admin.clearance.set"):
        PolicyEngine.load(bundle)


def test_resource_types_must_match_permissions(bundle: Path) -> None:
    schema = bundle / "schema.cedarschema"
    schema.write_text(
        schema.read_text().replace(
            "resource: [User, Unit, Operator], context: RequestContext",
            "resource: [User, Unit], context: RequestContext",
        )
    )
    with pytest.raises(PolicyError, match="admin.role.grant"):
        PolicyEngine.load(bundle)


# --- the bundle hash --------------------------------------------------------------------


def test_bundle_hash_is_stable(engine: PolicyEngine, bundle: Path) -> None:
    assert PolicyEngine.load(bundle).bundle_hash == engine.bundle_hash
    assert len(engine.bundle_hash) == 64


def test_bundle_hash_changes_with_content(engine: PolicyEngine, bundle: Path) -> None:
    path = bundle / "account.cedar"
    path.write_text(path.read_text() + "\n// a comment is a change too\n")
    assert PolicyEngine.load(bundle).bundle_hash != engine.bundle_hash


def test_bundle_hash_changes_with_file_name(engine: PolicyEngine, bundle: Path) -> None:
    (bundle / "account.cedar").rename(bundle / "account_renamed.cedar")
    assert PolicyEngine.load(bundle).bundle_hash != engine.bundle_hash


def test_bundle_hash_ignores_non_bundle_files(engine: PolicyEngine, bundle: Path) -> None:
    (bundle / "README.md").write_text("changed")
    assert PolicyEngine.load(bundle).bundle_hash == engine.bundle_hash


def test_bundle_hash_frames_names_and_contents() -> None:
    assert compute_bundle_hash({"a": "bc"}) != compute_bundle_hash({"ab": "c"})
