"""The closed vocabulary of audit event tags (SECURITY.md, "Audit trail")."""

from __future__ import annotations

import enum


class Event(enum.StrEnum):
    # Säkerhetsskyddsanalyser: changes, workflow steps, reads, plan follow-up
    ANALYSIS_CREATED = "analysis.created"
    ANALYSIS_MEASURE_UPDATED = "analysis.measure_updated"
    ANALYSIS_READ = "analysis.read"
    ANALYSIS_TRANSITION = "analysis.transition"
    ANALYSIS_UPDATED = "analysis.updated"
    # The asset register and the notices to holders
    ASSET_CREATED = "asset.created"
    ASSET_NOTICE_ACKNOWLEDGED = "asset.notice_acknowledged"
    ASSET_NOTICE_SENT = "asset.notice_sent"
    ASSET_READ = "asset.read"
    ASSET_UPDATED = "asset.updated"
    # Accounts and their administration
    ACCOUNT_CREATED = "account.created"
    ACCOUNT_DISABLED = "account.disabled"
    ACCOUNT_ENABLED = "account.enabled"
    ACCOUNT_UPDATED = "account.updated"
    # The audit trail itself
    AUDIT_CHECKPOINT = "audit.checkpoint"
    AUDIT_EXPORTED = "audit.exported"
    AUDIT_SEARCHED = "audit.searched"  # an auditor's search: the filters, never free text
    AUDIT_VERIFICATION_STARTED = "audit.verification_started"
    AUDIT_VERIFIED = "audit.verified"  # the result of a verification run from the workspace
    # Authentication: activation, login, MFA, recovery, passwords, step-up, logout
    AUTH_ACTIVATION_USED = "auth.activation.used"
    AUTH_LOGIN_FAILURE = "auth.login.failure"
    AUTH_LOGIN_LOCKED = "auth.login.locked"
    AUTH_LOGIN_SUCCESS = "auth.login.success"
    AUTH_LOGOUT = "auth.logout"
    AUTH_MFA_ENROLLED = "auth.mfa.enrolled"
    AUTH_MFA_FAILURE = "auth.mfa.failure"
    AUTH_MFA_RESET = "auth.mfa.reset"
    AUTH_MFA_SUCCESS = "auth.mfa.success"
    AUTH_PASSWORD_CHANGED = "auth.password.changed"  # noqa: S105 - an event tag, not a password
    AUTH_RECOVERY_REGENERATED = "auth.recovery.regenerated"
    AUTH_RECOVERY_USED = "auth.recovery.used"
    AUTH_STEPUP_FAILURE = "auth.stepup.failure"
    AUTH_STEPUP_SUCCESS = "auth.stepup.success"
    # Authorization decisions that were denied
    AUTHZ_DENY = "authz.deny"
    # Backups: written, and restored (the first event after the restored head)
    BACKUP_CREATED = "backup.created"
    BACKUP_RESTORED = "backup.restored"
    # Personnel clearance
    CLEARANCE_CHANGED = "clearance.changed"
    # The stadsövergripande säkerhetsanalys: drafts, measures, omvärldsbevakning, adoption, reads, exports
    CITYWIDE_ADOPTED = "citywide.adopted"
    CITYWIDE_COMPILED = "citywide.compiled"
    CITYWIDE_CREATED = "citywide.created"
    CITYWIDE_EXPORTED = "citywide.exported"
    CITYWIDE_MEASURE_CHANGED = "citywide.measure_changed"
    CITYWIDE_READ = "citywide.read"
    CITYWIDE_THREAT_NOTE_CHANGED = "citywide.threat_note_changed"
    CITYWIDE_UPDATED = "citywide.updated"
    # Field-level encryption failures
    CRYPTO_DECRYPT_FAILED = "crypto.decrypt_failed"
    # Demo data
    DEMO_LOADED = "demo.loaded"
    # The yearly follow-up: opened, answered, submitted, returned or reviewed, read; the questionnaire
    FOLLOWUP_ANSWERED = "followup.answered"
    FOLLOWUP_OPENED = "followup.opened"
    FOLLOWUP_QUESTIONNAIRE_SAVED = "followup.questionnaire_saved"
    FOLLOWUP_READ = "followup.read"
    FOLLOWUP_RETURNED = "followup.returned"
    FOLLOWUP_REVIEWED = "followup.reviewed"
    FOLLOWUP_SUBMITTED = "followup.submitted"
    # Key management
    KEYS_ADDED = "keys.added"
    KEYS_DISABLED = "keys.disabled"
    KEYS_PROMOTED = "keys.promoted"
    KEYS_REENCRYPTED = "keys.reencrypted"
    KEYS_REWRAPPED = "keys.rewrapped"
    # Operators (verksamhetsutövare)
    OPERATOR_CREATED = "operator.created"
    OPERATOR_SUPERVISORS_SET = "operator.supervisors_set"
    OPERATOR_UPDATED = "operator.updated"
    # The chef's consolidated picture: compiled on request, reads (aggregation awareness) and
    # exports (marked, after step-up)
    OVERSIGHT_COMPILED = "oversight.compiled"
    OVERSIGHT_EXPORTED = "oversight.exported"
    OVERSIGHT_READ = "oversight.read"
    # Authorization policies
    POLICY_LOADED = "policy.loaded"
    # Role assignments and their two-person approval
    ROLE_APPROVED = "role.approved"
    ROLE_GRANTED = "role.granted"
    ROLE_REJECTED = "role.rejected"
    ROLE_REQUESTED = "role.requested"
    ROLE_REVOKED = "role.revoked"
    # Server-side sessions
    SESSION_ENDED = "session.ended"
    SESSION_EXPIRED = "session.expired"
    # Security-protected procurements: triage, confirmation, duties, supplier follow-up, export
    PROCUREMENT_ACTION_UPDATED = "procurement.action_updated"
    PROCUREMENT_CLOSED = "procurement.closed"
    PROCUREMENT_CONFIRMED = "procurement.confirmed"
    PROCUREMENT_CREATED = "procurement.created"
    PROCUREMENT_DUTY_UPDATED = "procurement.duty_updated"
    PROCUREMENT_EXPORTED = "procurement.exported"
    PROCUREMENT_FOLLOW_UP_RECORDED = "procurement.follow_up_recorded"
    PROCUREMENT_READ = "procurement.read"
    PROCUREMENT_TEMPLATE_SAVED = "procurement.template_saved"
    PROCUREMENT_TRIAGED = "procurement.triaged"
    PROCUREMENT_UPDATED = "procurement.updated"
    # Reminders sent by `sakskydd reminders run`
    REMINDERS_SENT = "reminders.sent"
    # Organisation units, their applicability, appointments and revision triggers
    UNIT_APPLICABILITY_ASSESSED = "unit.applicability_assessed"
    UNIT_APPOINTMENT_ENDED = "unit.appointment_ended"
    UNIT_APPOINTMENT_RECORDED = "unit.appointment_recorded"
    UNIT_CREATED = "unit.created"
    UNIT_READ = "unit.read"
    UNIT_TRIGGER_RECORDED = "unit.trigger_recorded"
    UNIT_UPDATED = "unit.updated"
    # Personnel vetting: every open of a case with personal data is VETTING_READ_PERSONAL; no
    # name or personnummer ever reaches an event (ids, field names and counts only).
    VETTING_CASE_OPENED = "vetting.case_opened"
    VETTING_DECIDED = "vetting.decided"
    VETTING_DECISION_CONFIRMED = "vetting.decision_confirmed"
    VETTING_DISPOSED = "vetting.disposed"
    VETTING_ENDED = "vetting.ended"
    VETTING_LOOKUP = "vetting.lookup"
    VETTING_NOTE_ADDED = "vetting.note_added"
    VETTING_POSITION_CREATED = "vetting.position_created"
    VETTING_POSITION_UPDATED = "vetting.position_updated"
    VETTING_READ_PERSONAL = "vetting.read_personal"
    VETTING_RECHECKED = "vetting.rechecked"
    VETTING_STEP_UPDATED = "vetting.step_updated"
    VETTING_TEMPLATE_SAVED = "vetting.template_saved"


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"
