"""The Cedar engine wrapper: loads and validates the policy bundle once, decides deny-by-default.

Any evaluation error is Deny: Cedar skips a policy whose evaluation errors, so an erroring
forbid would otherwise let a permit through (SECURITY.md, Authorization).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cedarpy

from sakskydd.authz import permissions
from sakskydd.authz.entities import APPLICATION_REF, EntityRef, application_entity, qualified
from sakskydd.resources import resource_dir

SCHEMA_FILE = "schema.cedarschema"
POLICY_SUFFIX = ".cedar"
POLICIES_DIR_ENV = "SAKSKYDD_POLICIES_DIR"
DEFAULT_POLICIES_DIR = resource_dir("policies")

_MAX_ERROR_LENGTH = 500


class PolicyError(Exception):
    """The policy bundle is missing, unreadable or invalid; the application must not start."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        self.problems = tuple(problems) or (message,)
        super().__init__(message if not problems else f"{message}:\n  " + "\n  ".join(problems))


@dataclass(frozen=True, slots=True)
class Decision:
    """One authorization decision, as recorded in the audit trail."""

    allowed: bool
    policy_ids: tuple[str, ...]
    errors: tuple[str, ...]
    bundle_hash: str


@dataclass(frozen=True, slots=True)
class SchemaAction:
    """An action as declared in the schema: its groups and the resource types it applies to."""

    name: str
    groups: frozenset[str]
    resource_types: frozenset[str]

    @property
    def is_group(self) -> bool:
        return not self.resource_types


def default_policies_dir() -> Path:
    """`$SAKSKYDD_POLICIES_DIR` when set, else the repository's `policies/`."""
    configured = os.environ.get(POLICIES_DIR_ENV)
    return Path(configured) if configured else DEFAULT_POLICIES_DIR


def bundle_files(policies_dir: Path) -> dict[str, str]:
    """The schema and every `*.cedar` file, by file name, in sorted order."""
    if not policies_dir.is_dir():
        raise PolicyError(f"policy directory {policies_dir} does not exist")
    names = sorted(p.name for p in policies_dir.iterdir() if p.is_file() and p.suffix == POLICY_SUFFIX)
    if not (policies_dir / SCHEMA_FILE).is_file():
        raise PolicyError(f"{policies_dir} has no {SCHEMA_FILE}")
    if not names:
        raise PolicyError(f"{policies_dir} has no *{POLICY_SUFFIX} policy files")
    files = {}
    for name in sorted([SCHEMA_FILE, *names]):
        try:
            files[name] = (policies_dir / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"cannot read {policies_dir / name}: {exc}") from exc
    return files


def compute_bundle_hash(files: Mapping[str, str]) -> str:
    """SHA-256 over the sorted file names and contents, each length-prefixed (no ambiguity)."""
    digest = hashlib.sha256(b"sakskydd-policy-bundle/v1\0")
    for name in sorted(files):
        for part in (name.encode("utf-8"), files[name].encode("utf-8")):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()


_ACTION_RE = re.compile(
    r'^\s*action\s+"(?P<name>[^"]+)"(?:\s+in\s+\[(?P<groups>[^\]]*)\])?(?P<rest>.*?);\s*$',
    re.MULTILINE | re.DOTALL,
)
_QUOTED_RE = re.compile(r'"([^"]+)"')
_RESOURCE_RE = re.compile(r"resource\s*:\s*\[(?P<types>[^\]]*)\]")


def schema_actions(schema: cedarpy.Schema) -> dict[str, SchemaAction]:
    """The actions of a parsed schema, read from Cedar's own normalised rendering of it."""
    actions: dict[str, SchemaAction] = {}
    for match in _ACTION_RE.finditer(str(schema)):
        resources = _RESOURCE_RE.search(match["rest"] or "")
        resource_types = (
            frozenset(t.strip().rsplit("::", 1)[-1] for t in resources["types"].split(",") if t.strip())
            if resources
            else frozenset()
        )
        actions[match["name"]] = SchemaAction(
            name=match["name"],
            groups=frozenset(_QUOTED_RE.findall(match["groups"] or "")),
            resource_types=resource_types,
        )
    return actions


def vocabulary_problems(actions: Mapping[str, SchemaAction]) -> list[str]:
    """Differences between permissions.py and the schema's actions, step-up group and resources."""
    problems: list[str] = []
    declared = {name for name, action in actions.items() if not action.is_group}
    for name in sorted(permissions.ALL_ACTIONS - declared):
        problems.append(f"action {name!r} is in permissions.py but not in the schema")
    for name in sorted(declared - permissions.ALL_ACTIONS):
        problems.append(f"action {name!r} is in the schema but not in permissions.py")
    if permissions.STEP_UP_GROUP not in actions:
        problems.append(f"the schema lacks the action group {permissions.STEP_UP_GROUP!r}")
    in_group = {name for name, action in actions.items() if permissions.STEP_UP_GROUP in action.groups}
    for name in sorted(permissions.STEP_UP_ACTIONS - in_group):
        problems.append(
            f"{name!r} is a STEP_UP_ACTION but not in the schema group {permissions.STEP_UP_GROUP!r}"
        )
    for name in sorted(in_group - permissions.STEP_UP_ACTIONS):
        problems.append(
            f"{name!r} is in the schema group {permissions.STEP_UP_GROUP!r} but not a STEP_UP_ACTION"
        )
    for name in sorted(declared & permissions.ALL_ACTIONS):
        expected = permissions.ACTION_RESOURCE_TYPES[name]
        if actions[name].resource_types != expected:
            problems.append(
                f"{name!r} applies to {sorted(actions[name].resource_types)} in the schema "
                f"but to {sorted(expected)} in permissions.py"
            )
    return problems


def _policies_by_id(files: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Every static policy keyed by its `@id`; problems for missing, duplicate ids or templates."""
    problems: list[str] = []
    policies: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, text in files.items():
        if name == SCHEMA_FILE:
            continue
        try:
            parsed = json.loads(cedarpy.policies_to_json_str(text))
        except (ValueError, RuntimeError) as exc:
            problems.append(f"{name}: cannot parse: {exc}")
            continue
        if parsed.get("templates"):
            problems.append(f"{name}: policy templates are not allowed")
        for position, policy in enumerate(parsed.get("staticPolicies", {}).values()):
            policy_id = (policy.get("annotations") or {}).get("id")
            if not policy_id:
                problems.append(f'{name}: policy #{position + 1} has no @id("...") annotation')
            elif policy_id in policies:
                problems.append(f"{name}: @id {policy_id!r} is already used in {origin[policy_id]}")
            else:
                policies[policy_id] = policy
                origin[policy_id] = name
    return policies, problems


def check_bundle(files: Mapping[str, str], *, check_vocabulary: bool = True) -> list[str]:
    """Every problem with a bundle: schema, per-file validation, policy ids, vocabulary."""
    try:
        schema = cedarpy.Schema.from_str(files[SCHEMA_FILE])
    except (KeyError, ValueError) as exc:
        return [f"{SCHEMA_FILE}: {exc}"]
    problems: list[str] = []
    for name, text in files.items():
        if name == SCHEMA_FILE:
            continue
        result = cedarpy.validate_policies(text, schema)
        if not result.validation_passed:
            labels = result.id_annotations_by_policy_id
            for error in result.errors:
                where = labels.get(error.policy_id) or error.policy_id
                problems.append(f"{name}: [{where}] {error.error}" if where else f"{name}: {error.error}")
    policies, id_problems = _policies_by_id(files)
    problems.extend(id_problems)
    if not policies and not problems:
        problems.append("the bundle contains no policies")
    if check_vocabulary:
        problems.extend(vocabulary_problems(schema_actions(schema)))
    return problems


def _clean_error(message: str) -> str:
    # Entity-parse errors echo the whole entity document; keep only the reason.
    if message.startswith("failed to parse entities"):
        message = "failed to parse entities: " + message.rsplit("]: ", 1)[-1]
    return message[:_MAX_ERROR_LENGTH]


class PolicyEngine:
    """A validated, parsed policy bundle. Build with `PolicyEngine.load(path)`."""

    def __init__(
        self,
        *,
        policy_set: cedarpy.PolicySet,
        schema: cedarpy.Schema,
        bundle_hash: str,
        policy_ids: Iterable[str],
        actions: Iterable[str],
    ) -> None:
        self._policy_set = policy_set
        self._schema = schema
        self.bundle_hash = bundle_hash
        self.policy_ids = frozenset(policy_ids)
        self.actions = frozenset(actions)

    @classmethod
    def load(cls, policies_dir: Path, *, check_vocabulary: bool = True) -> PolicyEngine:
        """Read, validate and parse the bundle; raises PolicyError when it is not fit to run."""
        files = bundle_files(Path(policies_dir))
        try:
            return cls.from_files(files, check_vocabulary=check_vocabulary)
        except PolicyError as exc:
            raise PolicyError(f"invalid policy bundle in {policies_dir}", exc.problems) from None

    @classmethod
    def from_files(cls, files: Mapping[str, str], *, check_vocabulary: bool = True) -> PolicyEngine:
        """Like load, over file contents already read (`bundle_files`)."""
        problems = check_bundle(files, check_vocabulary=check_vocabulary)
        if problems:
            raise PolicyError("invalid policy bundle", problems)
        schema = cedarpy.Schema.from_str(files[SCHEMA_FILE])
        policies, _ = _policies_by_id(files)
        document = {"staticPolicies": policies, "templates": {}, "templateLinks": []}
        try:
            policy_set = cedarpy.PolicySet.from_json_str(json.dumps(document))
        except ValueError as exc:  # pragma: no cover - validated above
            raise PolicyError(f"cannot build the policy set: {exc}") from exc
        actions = {name for name, action in schema_actions(schema).items() if not action.is_group}
        return cls(
            policy_set=policy_set,
            schema=schema,
            bundle_hash=compute_bundle_hash(files),
            policy_ids=policies,
            actions=actions,
        )

    def decide(
        self,
        principal: EntityRef,
        action: str,
        resource: EntityRef,
        context: Mapping[str, Any],
        entities: Iterable[Mapping[str, Any]],
    ) -> Decision:
        """Allow only when Cedar says Allow and nothing errored; Deny otherwise."""
        return self.decide_batch(principal, action, [resource], context, entities)[0]

    def decide_batch(
        self,
        principal: EntityRef,
        action: str,
        resources: Sequence[EntityRef],
        context: Mapping[str, Any],
        entities: Iterable[Mapping[str, Any]],
    ) -> list[Decision]:
        """One decision per resource (list pages), over one entity set; same rules as decide."""
        if not resources:
            return []
        if action not in self.actions:
            return [self._deny(f"unknown action {action!r}") for _ in resources]
        try:
            entity_list = _merge_entities(entities)
        except (ValueError, KeyError, TypeError) as exc:
            return [self._deny(str(exc)) for _ in resources]
        try:
            requests = [
                {
                    "principal": principal.to_cedar(),
                    "action": {"type": qualified("Action"), "id": action},
                    "resource": resource.to_cedar(),
                    "context": dict(context),
                }
                for resource in resources
            ]
            results = cedarpy.is_authorized_batch(
                requests, self._policy_set, entity_list, schema=self._schema
            )
        except Exception as exc:  # any failure inside the engine must be a Deny, never an exception
            return [self._deny(f"policy evaluation failed: {type(exc).__name__}") for _ in resources]
        if len(results) != len(resources):
            return [self._deny("policy evaluation returned the wrong number of results") for _ in resources]
        return [self._decision(result) for result in results]

    def _decision(self, result: cedarpy.AuthzResult) -> Decision:
        errors = tuple(_clean_error(str(e)) for e in result.diagnostics.errors)
        return Decision(
            allowed=result.decision == cedarpy.Decision.Allow and not errors,
            policy_ids=tuple(sorted(result.diagnostics.reasons)),
            errors=errors,
            bundle_hash=self.bundle_hash,
        )

    def _deny(self, error: str) -> Decision:
        return Decision(allowed=False, policy_ids=(), errors=(error,), bundle_hash=self.bundle_hash)


def _merge_entities(entities: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Drop identical duplicates (builders overlap on operators); conflicting ones are an error."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for entity in entities:
        uid = entity["uid"]
        key = (uid["type"], uid["id"])
        if key in merged:
            if merged[key] != entity:
                raise ValueError(f"conflicting definitions of entity {key[0]}::{key[1]!r}")
            continue
        merged[key] = dict(entity)
    app_key = (qualified(APPLICATION_REF.type), APPLICATION_REF.id)
    if app_key not in merged:
        merged[app_key] = application_entity()
    return list(merged.values())
