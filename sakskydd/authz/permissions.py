"""The permission vocabulary: every action the policies decide, defined once and used by name.

Each constant is also the Cedar action id (`Sakskydd::Action::"account.read_own"`). The schema in
`policies/schema.cedarschema` declares the same actions; `sakskydd policies check` and the
engine at start-up refuse a bundle where the two disagree.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

# Keep alphabetical by value; tests/unit/test_authz_permissions.py enforces it.
ACCOUNT_CHANGE_MFA: Final = "account.change_mfa"
ACCOUNT_CHANGE_PASSWORD: Final = "account.change_password"  # noqa: S105 - an action name, not a secret
ACCOUNT_END_OWN_SESSION: Final = "account.end_own_session"
ACCOUNT_READ_OWN: Final = "account.read_own"
ACCOUNT_REGENERATE_RECOVERY_CODES: Final = "account.regenerate_recovery_codes"
ACCOUNT_STEP_UP: Final = "account.step_up"
ADMIN_APPROVALS_LIST: Final = "admin.approvals.list"
ADMIN_CLEARANCE_SET: Final = "admin.clearance.set"
ADMIN_OPERATOR_CREATE: Final = "admin.operator.create"
ADMIN_OPERATOR_LIST: Final = "admin.operator.list"
ADMIN_OPERATOR_UPDATE: Final = "admin.operator.update"
ADMIN_ROLE_APPROVE: Final = "admin.role.approve"
ADMIN_ROLE_GRANT: Final = "admin.role.grant"
ADMIN_ROLE_REJECT: Final = "admin.role.reject"
ADMIN_ROLE_REVOKE: Final = "admin.role.revoke"
ADMIN_UNIT_CREATE: Final = "admin.unit.create"
ADMIN_UNIT_LIST: Final = "admin.unit.list"
ADMIN_UNIT_UPDATE: Final = "admin.unit.update"
ADMIN_USER_CREATE: Final = "admin.user.create"
ADMIN_USER_DISABLE: Final = "admin.user.disable"
ADMIN_USER_ENABLE: Final = "admin.user.enable"
ADMIN_USER_END_SESSIONS: Final = "admin.user.end_sessions"
ADMIN_USER_LIST: Final = "admin.user.list"
ADMIN_USER_READ: Final = "admin.user.read"
ADMIN_USER_RESET_MFA: Final = "admin.user.reset_mfa"
ADMIN_USER_UPDATE: Final = "admin.user.update"
ANALYSIS_APPROVE: Final = "analysis.approve"
ANALYSIS_CREATE: Final = "analysis.create"
ANALYSIS_EDIT: Final = "analysis.edit"
ANALYSIS_LIST: Final = "analysis.list"
ANALYSIS_READ: Final = "analysis.read"
ANALYSIS_RETURN: Final = "analysis.return"
ANALYSIS_SUBMIT: Final = "analysis.submit"
ANALYSIS_UPDATE_MEASURE_STATUS: Final = "analysis.update_measure_status"
ASSET_CREATE: Final = "asset.create"
ASSET_EDIT: Final = "asset.edit"
ASSET_LIST: Final = "asset.list"
ASSET_READ: Final = "asset.read"
AUDIT_EXPORT: Final = "audit.export"
AUDIT_READ_STATUS: Final = "audit.read_status"
AUDIT_SEARCH: Final = "audit.search"
AUDIT_VERIFY: Final = "audit.verify"
CITYWIDE_ADOPT: Final = "citywide.adopt"
CITYWIDE_EDIT: Final = "citywide.edit"
CITYWIDE_EXPORT: Final = "citywide.export"
CITYWIDE_READ: Final = "citywide.read"
FOLLOWUP_EDIT: Final = "followup.edit"
FOLLOWUP_LIST: Final = "followup.list"
FOLLOWUP_OPEN: Final = "followup.open"
FOLLOWUP_OVERVIEW: Final = "followup.overview"
FOLLOWUP_QUESTIONNAIRE: Final = "followup.questionnaire"
FOLLOWUP_READ: Final = "followup.read"
FOLLOWUP_REVIEW: Final = "followup.review"
FOLLOWUP_SUBMIT: Final = "followup.submit"
HOME_VIEW: Final = "home.view"
NOTICE_ACKNOWLEDGE: Final = "notice.acknowledge"
OPERATOR_SET_SUPERVISORS: Final = "operator.set_supervisors"
OVERSIGHT_EXPORT: Final = "oversight.export"
OVERSIGHT_VIEW: Final = "oversight.view"
PROCUREMENT_CLOSE: Final = "procurement.close"
PROCUREMENT_CONFIRM: Final = "procurement.confirm"
PROCUREMENT_CREATE: Final = "procurement.create"
PROCUREMENT_EDIT: Final = "procurement.edit"
PROCUREMENT_EXPORT: Final = "procurement.export"
PROCUREMENT_FOLLOW_UP: Final = "procurement.follow_up"
PROCUREMENT_READ: Final = "procurement.read"
PROCUREMENT_REGISTER: Final = "procurement.register"
PROCUREMENT_TEMPLATE: Final = "procurement.template"
PROCUREMENT_TRIAGE: Final = "procurement.triage"
PROCUREMENT_UPDATE_DUTY: Final = "procurement.update_duty"
UNIT_APPOINT: Final = "unit.appoint"
UNIT_ASSESS: Final = "unit.assess"
UNIT_LIST: Final = "unit.list"
UNIT_READ: Final = "unit.read"
UNIT_RECORD_TRIGGER: Final = "unit.record_trigger"
VETTING_CASES: Final = "vetting.cases"
VETTING_CONFIRM_DECISION: Final = "vetting.confirm_decision"
VETTING_DECIDE: Final = "vetting.decide"
VETTING_INTERVIEW_TEMPLATE: Final = "vetting.interview_template"
VETTING_LOOKUP: Final = "vetting.lookup"
VETTING_OPEN: Final = "vetting.open"
VETTING_OVERVIEW: Final = "vetting.overview"
VETTING_POSITION_CREATE: Final = "vetting.position_create"
VETTING_POSITION_EDIT: Final = "vetting.position_edit"
VETTING_POSITIONS: Final = "vetting.positions"
VETTING_READ_PERSONAL: Final = "vetting.read_personal"
VETTING_UPDATE: Final = "vetting.update"

# Cedar action group (not an action a route declares): its members need a step-up, i.e. a
# fresh password + TOTP within STEP_UP_MAX_AGE_SECONDS (policies/00_baseline.cedar).
STEP_UP_GROUP: Final = "group.step_up"
STEP_UP_MAX_AGE_SECONDS: Final = 300

STEP_UP_ACTIONS: frozenset[str] = frozenset(
    {
        ACCOUNT_CHANGE_MFA,
        ACCOUNT_REGENERATE_RECOVERY_CODES,
        ADMIN_CLEARANCE_SET,
        ADMIN_ROLE_APPROVE,
        ADMIN_ROLE_GRANT,
        ADMIN_ROLE_REJECT,
        ADMIN_ROLE_REVOKE,
        ADMIN_USER_RESET_MFA,
        ANALYSIS_APPROVE,
        AUDIT_EXPORT,
        CITYWIDE_ADOPT,
        CITYWIDE_EXPORT,
        OVERSIGHT_EXPORT,
        PROCUREMENT_EXPORT,
        VETTING_CONFIRM_DECISION,
        VETTING_DECIDE,
    }
)

# Entity types (without the `Sakskydd::` namespace) each action may be asked about.
ACTION_RESOURCE_TYPES: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        ACCOUNT_CHANGE_MFA: frozenset({"User"}),
        ACCOUNT_CHANGE_PASSWORD: frozenset({"User"}),
        ACCOUNT_END_OWN_SESSION: frozenset({"User"}),
        ACCOUNT_READ_OWN: frozenset({"User"}),
        ACCOUNT_REGENERATE_RECOVERY_CODES: frozenset({"User"}),
        ACCOUNT_STEP_UP: frozenset({"User"}),
        ADMIN_APPROVALS_LIST: frozenset({"Application"}),
        ADMIN_CLEARANCE_SET: frozenset({"User"}),
        ADMIN_OPERATOR_CREATE: frozenset({"Application"}),
        ADMIN_OPERATOR_LIST: frozenset({"Application"}),
        ADMIN_OPERATOR_UPDATE: frozenset({"Operator"}),
        ADMIN_ROLE_APPROVE: frozenset({"RoleAssignment"}),
        ADMIN_ROLE_GRANT: frozenset({"User", "Unit", "Operator"}),
        ADMIN_ROLE_REJECT: frozenset({"RoleAssignment"}),
        ADMIN_ROLE_REVOKE: frozenset({"RoleAssignment"}),
        ADMIN_UNIT_CREATE: frozenset({"Operator"}),
        ADMIN_UNIT_LIST: frozenset({"Operator"}),
        ADMIN_UNIT_UPDATE: frozenset({"Unit"}),
        ADMIN_USER_CREATE: frozenset({"Operator"}),
        ADMIN_USER_DISABLE: frozenset({"User"}),
        ADMIN_USER_ENABLE: frozenset({"User"}),
        ADMIN_USER_END_SESSIONS: frozenset({"User"}),
        ADMIN_USER_LIST: frozenset({"Application"}),
        ADMIN_USER_READ: frozenset({"User"}),
        ADMIN_USER_RESET_MFA: frozenset({"User"}),
        ADMIN_USER_UPDATE: frozenset({"User"}),
        ANALYSIS_APPROVE: frozenset({"Analysis"}),
        ANALYSIS_CREATE: frozenset({"Unit"}),
        ANALYSIS_EDIT: frozenset({"Analysis"}),
        ANALYSIS_LIST: frozenset({"Unit"}),
        ANALYSIS_READ: frozenset({"Analysis"}),
        ANALYSIS_RETURN: frozenset({"Analysis"}),
        ANALYSIS_SUBMIT: frozenset({"Analysis"}),
        ANALYSIS_UPDATE_MEASURE_STATUS: frozenset({"Analysis"}),
        ASSET_CREATE: frozenset({"Unit"}),
        ASSET_EDIT: frozenset({"Asset"}),
        ASSET_LIST: frozenset({"Unit"}),
        ASSET_READ: frozenset({"Asset"}),
        AUDIT_EXPORT: frozenset({"Application"}),
        AUDIT_READ_STATUS: frozenset({"Application"}),
        AUDIT_SEARCH: frozenset({"Application"}),
        AUDIT_VERIFY: frozenset({"Application"}),
        CITYWIDE_ADOPT: frozenset({"Operator"}),
        CITYWIDE_EDIT: frozenset({"Operator"}),
        CITYWIDE_EXPORT: frozenset({"Operator"}),
        CITYWIDE_READ: frozenset({"Operator"}),
        FOLLOWUP_EDIT: frozenset({"FollowUp"}),
        FOLLOWUP_LIST: frozenset({"Unit"}),
        FOLLOWUP_OPEN: frozenset({"Unit"}),
        FOLLOWUP_OVERVIEW: frozenset({"Operator"}),
        FOLLOWUP_QUESTIONNAIRE: frozenset({"Operator"}),
        FOLLOWUP_READ: frozenset({"FollowUp"}),
        FOLLOWUP_REVIEW: frozenset({"FollowUp"}),
        FOLLOWUP_SUBMIT: frozenset({"FollowUp"}),
        HOME_VIEW: frozenset({"Application"}),
        NOTICE_ACKNOWLEDGE: frozenset({"User"}),
        OPERATOR_SET_SUPERVISORS: frozenset({"Operator"}),
        OVERSIGHT_EXPORT: frozenset({"Operator"}),
        OVERSIGHT_VIEW: frozenset({"Operator"}),
        PROCUREMENT_CLOSE: frozenset({"Procurement"}),
        PROCUREMENT_CONFIRM: frozenset({"Procurement"}),
        PROCUREMENT_CREATE: frozenset({"Unit"}),
        PROCUREMENT_EDIT: frozenset({"Procurement"}),
        PROCUREMENT_EXPORT: frozenset({"Application"}),
        PROCUREMENT_FOLLOW_UP: frozenset({"Procurement"}),
        PROCUREMENT_READ: frozenset({"Procurement"}),
        PROCUREMENT_REGISTER: frozenset({"Application"}),
        PROCUREMENT_TEMPLATE: frozenset({"Operator"}),
        PROCUREMENT_TRIAGE: frozenset({"Procurement"}),
        PROCUREMENT_UPDATE_DUTY: frozenset({"Procurement"}),
        UNIT_APPOINT: frozenset({"Unit"}),
        UNIT_ASSESS: frozenset({"Unit"}),
        UNIT_LIST: frozenset({"Application"}),
        UNIT_READ: frozenset({"Unit"}),
        UNIT_RECORD_TRIGGER: frozenset({"Unit"}),
        VETTING_CASES: frozenset({"Unit"}),
        VETTING_CONFIRM_DECISION: frozenset({"VettingCase"}),
        VETTING_DECIDE: frozenset({"VettingCase"}),
        VETTING_INTERVIEW_TEMPLATE: frozenset({"Operator"}),
        VETTING_LOOKUP: frozenset({"Unit"}),
        VETTING_OPEN: frozenset({"Unit"}),
        VETTING_OVERVIEW: frozenset({"Application"}),
        VETTING_POSITION_CREATE: frozenset({"Unit"}),
        VETTING_POSITION_EDIT: frozenset({"Position"}),
        VETTING_POSITIONS: frozenset({"Unit"}),
        VETTING_READ_PERSONAL: frozenset({"VettingCase"}),
        VETTING_UPDATE: frozenset({"VettingCase"}),
    }
)

ALL_ACTIONS: frozenset[str] = frozenset(ACTION_RESOURCE_TYPES)
