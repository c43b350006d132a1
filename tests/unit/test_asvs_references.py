"""docs/asvs.md cites only what exists: every test, policy decision case and code reference in it
names a test function, a case of policies/decisions.yaml, or a definition in the file it names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "asvs.md").read_text(encoding="utf-8")

TEST_REFS = sorted(set(re.findall(r"(tests/[\w/]+\.py)::(test_\w+)", DOC)))
CODE_REFS = sorted(set(re.findall(r"(sakskydd/[\w/]+\.py)::([A-Za-z_][\w.]*)", DOC)))
CASES = sorted(set(re.findall(r"test_expected_decision\[([^\]]+)\]", DOC)) - {"<name>"})


def _defines(source: str, name: str) -> bool:
    """`name` (or `Class.member`) is defined in `source`: a def, a class, or an assignment."""
    *outer, last = name.split(".")
    for part in (*outer, last):
        pattern = (
            rf"^\s*(?:async\s+def|def|class)\s+{re.escape(part)}\b|^\s*{re.escape(part)}\s*(?::[^=\n]*)?="
        )
        if not re.search(pattern, source, re.MULTILINE):
            return False
    return True


def test_the_document_cites_tests_code_and_cases() -> None:
    assert len(TEST_REFS) > 100 and len(CODE_REFS) > 100 and len(CASES) > 20


@pytest.mark.parametrize(("path", "name"), TEST_REFS, ids=[f"{p}::{n}" for p, n in TEST_REFS])
def test_cited_test_exists(path: str, name: str) -> None:
    source = (ROOT / path).read_text(encoding="utf-8")
    assert re.search(rf"^def {name}\(", source, re.MULTILINE), f"{path} has no {name}"


@pytest.mark.parametrize(("path", "name"), CODE_REFS, ids=[f"{p}::{n}" for p, n in CODE_REFS])
def test_cited_code_exists(path: str, name: str) -> None:
    file = ROOT / path
    assert file.is_file(), f"{path} does not exist"
    assert _defines(file.read_text(encoding="utf-8"), name), f"{path} defines no {name}"


def test_cited_decision_cases_exist() -> None:
    names = {
        case["name"] for case in yaml.safe_load((ROOT / "policies" / "decisions.yaml").read_text())["cases"]
    }
    missing = [case for case in CASES if case not in names]
    assert not missing, missing
