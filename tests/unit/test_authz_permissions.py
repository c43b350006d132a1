"""The permission vocabulary in sakskydd/authz/permissions.py."""

from __future__ import annotations

import ast
from pathlib import Path

from sakskydd.authz import permissions as perm

SOURCE = Path(perm.__file__).read_text(encoding="utf-8")


def _action_constants() -> list[tuple[str, str]]:
    """(NAME, "value") of each action constant, in file order (everything before the group)."""
    constants = []
    for node in ast.parse(SOURCE).body:
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            constants.append((node.target.id, node.value.value))
    return [(name, value) for name, value in constants if name != "STEP_UP_GROUP"]


def test_each_action_is_defined_once_in_alphabetical_order() -> None:
    values = [value for _, value in _action_constants()]
    assert values == sorted(values)
    assert len(values) == len(set(values))


def test_constant_names_spell_their_values() -> None:
    for name, value in _action_constants():
        assert name == value.upper().replace(".", "_")


def test_every_constant_is_a_known_action_and_back() -> None:
    assert {value for _, value in _action_constants()} == perm.ALL_ACTIONS


def test_step_up_actions_are_actions() -> None:
    assert perm.STEP_UP_ACTIONS <= perm.ALL_ACTIONS
    assert perm.STEP_UP_GROUP not in perm.ALL_ACTIONS


def test_resource_types_are_schema_entity_types() -> None:
    known = {"Application", "Operator", "Unit", "User", "RoleAssignment", "Analysis", "Asset", "Procurement"}
    known |= {"Position", "VettingCase", "FollowUp"}
    assert all(types and types <= known for types in perm.ACTION_RESOURCE_TYPES.values())
