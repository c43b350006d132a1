"""`sakskydd policies check`, run without an application (as an auditor would)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sakskydd.authz.cli import DecisionFileError, load_decision_cases, policies
from sakskydd.authz.engine import DEFAULT_POLICIES_DIR, PolicyEngine


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICIES_DIR, target)
    return target


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(policies, ["check", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_check_passes_on_the_shipped_bundle_and_prints_the_hash() -> None:
    code, out, _ = run()
    assert code == 0
    assert PolicyEngine.load(DEFAULT_POLICIES_DIR).bundle_hash in out
    assert "Expected decisions: all" in out


def test_check_reads_the_directory_from_the_environment(bundle: Path) -> None:
    (bundle / "zz_broken.cedar").write_text("forbid (principal, action, resource) when { nonsense };\n")
    code, _, err = run(env={"SAKSKYDD_POLICIES_DIR": str(bundle)})
    assert code == 1
    assert "zz_broken.cedar" in err


def test_check_fails_with_the_validation_messages(bundle: Path) -> None:
    (bundle / "zz_broken.cedar").write_text(
        '@id("broken")\npermit (principal, action, resource) when { resource.no_such_attribute };\n'
    )
    code, _, err = run("--path", str(bundle))
    assert code == 1
    assert "zz_broken.cedar" in err
    assert "broken" in err


def test_check_fails_when_an_expected_decision_changes(bundle: Path) -> None:
    # Drop the self-administration forbid: an admin could now disable themselves.
    path = bundle / "10_separation_of_duties.cedar"
    text = path.read_text()
    start = text.index('@id("sod.administer_self")')
    path.write_text(text[:start])
    code, _, err = run("--path", str(bundle))
    assert code == 1
    assert "admin cannot disable themselves: expected deny, got allow" in err


def test_check_can_skip_the_decisions(bundle: Path) -> None:
    (bundle / "decisions.yaml").unlink()
    assert run("--path", str(bundle))[0] == 1
    code, out, _ = run("--path", str(bundle), "--skip-decisions")
    assert code == 0
    assert "Bundle hash" in out


def test_check_fails_on_a_missing_directory(tmp_path: Path) -> None:
    code, _, err = run("--path", str(tmp_path / "nowhere"))
    assert code == 1
    assert "does not exist" in err


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "cases:\n  - {name: x, principal: {home: nowhere}, action: home.view,"
            " resource: application, expect: allow}\n",
            "unknown operator",
        ),
        ("typo: 1\n", "unknown keys"),
        (
            "world: {operators: {a: {kind: kommun}}}\ncases:\n"
            "  - {name: x, principal: {home: a}, action: home.view, resource: application, expect: maybe}\n",
            "allow or deny",
        ),
        (
            "world: {operators: {a: {kind: kommun}}}\ncases:\n"
            "  - {name: x, principal: {home: a}, action: home.view, resource: application, expect: deny}\n"
            "  - {name: x, principal: {home: a}, action: home.view, resource: application, expect: deny}\n",
            "duplicate",
        ),
    ],
)
def test_malformed_decisions_file_is_rejected(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "decisions.yaml"
    path.write_text(yaml_text)
    with pytest.raises(DecisionFileError, match=message):
        load_decision_cases(path)
