"""Every route × every role × own/foreign organisation × clearance, against an expectations table.

The table below is written independently of the policies; a route missing from it fails the
inventory test, so a new route cannot ship without a decision about who may use it.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from factories import Person, make_operator, make_unit, make_user, session_cookie
from flask import Flask, url_for
from sqlalchemy import select

from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment
from sakskydd.analyses.models import (
    AnalysisAsset,
    AnalysisReference,
    AnalysisStatus,
    Measure,
    MeasureArea,
    ReferenceKind,
    SecurityAnalysis,
)
from sakskydd.assets.models import AssetHolder, AssetRevision, AssetType, HolderNotice, ProtectedAsset
from sakskydd.audit.models import AuditEvent
from sakskydd.authz.enforcement import PUBLIC_ENDPOINTS, declared_action
from sakskydd.classification import DamageLevel
from sakskydd.db import utcnow
from sakskydd.deadlines import local_today
from sakskydd.extensions import db
from sakskydd.followup.models import AnnualFollowUp
from sakskydd.organisations.models import Appointment, AppointmentRole
from sakskydd.oversight.models import CityWideAnalysis, CityWideMeasure, ThreatNote
from sakskydd.procurements.models import (
    FollowUpAction,
    FollowUpRun,
    Procurement,
    ProcurementDuty,
    ProcurementKind,
    ProcurementStatus,
    SubSupplier,
)
from sakskydd.procurements.rules import DutyKind, Outcome, Where
from sakskydd.vetting import services as vetting_services

pytestmark = pytest.mark.db

ROLES = [None, Role.SAMORDNARE, Role.ERSATTARE, Role.UPPHANDLARE, Role.CHEF, Role.REVISOR, Role.ADMIN]

# How each endpoint decides. "self": any signed-in user on their own account; "admin": an
# administrator of the object's operator (others: 403 on lists, 404 on objects outside scope);
# "admin_kommun": an administrator of a kommun operator.
EXPECTATIONS: dict[str, str] = {
    "main.home": "self",
    "account.overview": "self",
    "account.end_session": "self",
    "account.end_other_sessions": "self",
    "account.change_password": "self",
    "account.change_mfa": "self",
    "account.recovery_codes": "self",
    "account.step_up": "self",
    "account.history": "self",
    "account.notices_read": "self",
    "admin.users": "admin",
    "admin.user_new": "admin",
    "admin.user_detail": "admin",
    "admin.user_edit": "admin",
    "admin.user_resend_activation": "admin",
    "admin.user_disable": "admin",
    "admin.user_enable": "admin",
    "admin.user_reset_mfa": "admin",
    "admin.user_end_sessions": "admin",
    "admin.user_clearance": "admin",
    "admin.role_grant": "admin",
    "admin.role_approve": "admin",
    "admin.role_reject": "admin",
    "admin.role_revoke": "admin",
    "admin.approvals": "admin",
    "admin.operators": "admin",
    "admin.operator_new": "admin_kommun",
    "admin.operator_edit": "admin",
    "admin.units": "admin",
    "admin.unit_new": "admin",
    "admin.unit_edit": "admin",
    # Units and coordinators
    "units.index": "unit_list",
    "units.detail": "coord_chef",
    "units.assess": "coord",
    "units.appoint": "coord",
    "units.end_appointment": "coord",
    "units.record_trigger": "coord",
    "units.supervisors": "chef_operator",
    # The asset register and notices to holders
    "assets.index": "coord_chef",
    "assets.create": "coord",
    "assets.detail": "coord_chef",
    "assets.edit": "coord",
    "assets.add_holder": "coord",
    "assets.remove_holder": "coord",
    "assets.archive": "coord",
    "assets.notice": "self_object",
    "assets.acknowledge": "self_object",
    # Säkerhetsskyddsanalyser
    "analyses.index": "coord_chef",
    "analyses.create": "coord",
    "analyses.detail": "coord_chef",
    "analyses.compare": "coord_chef",
    "analyses.edit": "coord",
    "analyses.new_version": "coord",
    "analyses.add_reference": "coord",
    "analyses.remove_reference": "coord",
    "analyses.link_asset": "coord",
    "analyses.unlink_asset": "coord",
    "analyses.measure": "coord",
    "analyses.remove_measure": "coord",
    "analyses.measure_status": "coord",
    "analyses.submit": "coord",
    "analyses.return_": "chef",
    "analyses.approve": "chef",
    # Security-protected procurements
    "procurements.index": "proc_register",
    "procurements.export": "proc_register",
    "procurements.create": "proc_create",
    "procurements.detail": "proc_read",
    "procurements.edit": "proc_work",
    "procurements.add_sub_supplier": "proc_work",
    "procurements.remove_sub_supplier": "proc_work",
    "procurements.triage": "proc_triage",
    "procurements.confirm": "proc_confirm",
    "procurements.duty": "proc_work",
    "procurements.follow_up": "proc_work",
    "procurements.follow_up_action": "proc_work",
    "procurements.close": "proc_work",
    "procurements.template": "chef_operator",
    # Personnel vetting: cases only for the unit's coordinators (the chef gets 404, like a
    # missing id); the chef sees the befattningsförteckning, the counts and the template.
    "vetting.overview": "unit_list",
    "vetting.positions": "coord_chef",
    "vetting.position_create": "coord",
    "vetting.position_edit": "coord",
    "vetting.cases": "coord",
    "vetting.lookup": "coord",
    "vetting.open_case": "coord",
    "vetting.case": "vet_case",
    "vetting.step": "vet_case",
    "vetting.decide": "vet_case",
    "vetting.confirm": "vet_case",
    "vetting.note": "vet_case",
    "vetting.recheck": "vet_case",
    "vetting.end": "vet_case",
    "vetting.interview_template": "chef_operator",
    # The auditors' workspace: an auditor's own operators' events only (others: 404).
    "auditing.events": "auditor",
    "auditing.event": "audit_event",
    "auditing.verification_status": "auditor",
    "auditing.verify": "auditor",
    "auditing.export": "auditor",
    # The chef's picture and the city-wide analysis: the chef of the operator only (others: 404).
    "oversight.overview": "chef_operator",
    "oversight.export": "chef_operator",
    "oversight.recompile": "chef_operator",
    "oversight.citywide_index": "chef_operator",
    "oversight.citywide_create": "chef_operator",
    "oversight.citywide": "chef_operator",
    "oversight.citywide_compile": "chef_operator",
    "oversight.citywide_conclusions": "chef_operator",
    "oversight.citywide_measure": "chef_operator",
    "oversight.citywide_remove_measure": "chef_operator",
    "oversight.citywide_note": "chef_operator",
    "oversight.citywide_remove_note": "chef_operator",
    "oversight.citywide_adopt": "chef_operator",
    "oversight.citywide_export": "chef_operator",
    "oversight.citywide_print": "chef_operator",
    # The yearly follow-up: answered by the unit's coordinators, reviewed by the chef.
    "followup.unit_list": "coord_chef",
    "followup.open_followup": "coord",
    "followup.detail": "coord_chef",
    "followup.answer": "coord",
    "followup.submit_followup": "coord",
    "followup.review": "chef",
    "followup.overview": "chef_operator",
    "followup.questionnaire": "chef_operator",
}

# Domain kinds: who can load the object (others get 404, like a missing id) and who may act on
# it once loaded (others get 403). Objects outside the actor's organisation are always 404.
COORDINATORS = {Role.SAMORDNARE, Role.ERSATTARE}
DOMAIN_KINDS: dict[str, tuple[set[Role], set[Role]]] = {
    "coord": (COORDINATORS | {Role.CHEF}, COORDINATORS),
    "coord_chef": (COORDINATORS | {Role.CHEF}, COORDINATORS | {Role.CHEF}),
    "chef": (COORDINATORS | {Role.CHEF}, {Role.CHEF}),
    "chef_operator": ({Role.CHEF}, {Role.CHEF}),
    "unit_list": (set(), COORDINATORS | {Role.CHEF}),
    "vet_case": (COORDINATORS, COORDINATORS),
    "auditor": (set(), {Role.REVISOR}),
    "audit_event": ({Role.REVISOR}, {Role.REVISOR}),
    # Procurements: the upphandlare reaches the ones they are responsible for (the own side's is
    # the actor's), coordinators and the chef all of their units'/operator's.
    "proc_register": (set(), COORDINATORS | {Role.CHEF, Role.UPPHANDLARE}),
    "proc_create": (COORDINATORS | {Role.CHEF, Role.UPPHANDLARE}, {Role.UPPHANDLARE}),
    "proc_read": (COORDINATORS | {Role.CHEF, Role.UPPHANDLARE}, COORDINATORS | {Role.CHEF, Role.UPPHANDLARE}),
    "proc_work": (COORDINATORS | {Role.CHEF, Role.UPPHANDLARE}, COORDINATORS | {Role.UPPHANDLARE}),
    "proc_triage": (COORDINATORS | {Role.CHEF, Role.UPPHANDLARE}, {Role.UPPHANDLARE}),
    "proc_confirm": (COORDINATORS | {Role.CHEF, Role.UPPHANDLARE}, COORDINATORS),
}
# An allowed request may still be refused by the service (a form error: 200, a stale version: 409).
ALLOWED = {200, 303, 409}


def test_every_route_is_public_or_declared_and_in_the_matrix(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        assert declared_action(view), f"{rule.endpoint} declares no action"
        assert rule.endpoint in EXPECTATIONS, f"{rule.endpoint} is missing from the authorization matrix"
    assert set(EXPECTATIONS) <= {rule.endpoint for rule in app.url_map.iter_rules()}


def test_an_undeclared_route_is_refused(settings: Any) -> None:
    from sakskydd import create_app

    application = create_app(settings)
    application.add_url_rule("/oskyddad", "oskyddad", lambda: "hemligt")
    with application.app_context():
        person = make_user(application, make_operator(), roles=[])
        client = application.test_client()
        session_cookie(client, application, person)
        response = client.get("/oskyddad")
        assert response.status_code == 403
        assert "hemligt" not in response.get_data(as_text=True)
    application.extensions["sakskydd.db"].dispose()


@dataclass
class World:
    own_operator: Any
    foreign_operator: Any
    targets: dict[bool, dict[str, str]]
    own_unit: Any = None


def _notice(asset: ProtectedAsset, recipient_id: Any) -> str:
    """A status-change notice about the asset, addressed to `recipient_id`."""
    revision = AssetRevision(
        asset_id=asset.id,
        unit_id=asset.unit_id,
        actor_id=asset.created_by_id,
        changes={"status": ["normal", "skyddsvart"]},
    )
    db.add(revision)
    db.flush()
    notice = HolderNotice(
        asset_id=asset.id, unit_id=asset.unit_id, revision_id=revision.id, user_id=recipient_id
    )
    db.add(notice)
    db.commit()
    return str(notice.id)


def _procurement(unit: Any, author: Any) -> tuple[Procurement, dict[str, str]]:
    """A confirmed SUA nivå 2 procurement with a duty, a sub-supplier and a follow-up action."""
    procurement = Procurement(
        unit_id=unit.id,
        kind=ProcurementKind.PROCUREMENT,
        title="Matrisupphandling",
        registry_number="Dnr 1",
        responsible_id=author.id,
        procedure_starts_on=dt.date(2026, 1, 1),
        status=ProcurementStatus.CONFIRMED,
        q_classified_access=True,
        q_sensitive_activity=False,
        q_where=Where.OURS,
        q_staff_vetting=False,
        q_restricted_access=False,
        q_sub_suppliers=True,
        triaged_at=utcnow(),
        triaged_by_id=author.id,
        proposed_outcome=Outcome.SUA_2,
        proposed_consultation=True,
        outcome=Outcome.SUA_2,
        consultation=True,
        confirmed_on=dt.date(2026, 1, 2),
        created_by_id=author.id,
    )
    db.add(procurement)
    db.flush()
    duty = ProcurementDuty(
        procurement_id=procurement.id,
        unit_id=unit.id,
        kind=DutyKind.ASSESSMENT,
        position=0,
        owner_id=author.id,
    )
    sub = SubSupplier(procurement_id=procurement.id, name="Underleverantör AB")
    run = FollowUpRun(
        procurement_id=procurement.id,
        unit_id=unit.id,
        performed_on=dt.date(2026, 2, 1),
        performed_by_id=author.id,
        results=[["Krav", "brist"]],
    )
    db.add_all([duty, sub, run])
    db.flush()
    action = FollowUpAction(
        run_id=run.id,
        procurement_id=procurement.id,
        unit_id=unit.id,
        description="Åtgärd",
        responsible="Leverantören",
        due_on=dt.date(2026, 3, 1),
    )
    db.add(action)
    db.flush()
    return procurement, {"duty_id": str(duty.id), "sub_id": str(sub.id), "action_id": str(action.id)}


def _casework(unit: Any, author: Any) -> dict[str, str]:
    """A unit's records for the domain routes: an asset, an approved analysis and a draft with parts."""
    asset = ProtectedAsset(
        unit_id=unit.id,
        type=AssetType.SYSTEM,
        name="Matrisobjekt",
        damage_level=DamageLevel.MINOR,
        owner="Ägare",
        created_by_id=author.id,
    )
    db.add(asset)
    db.flush()
    approved = SecurityAnalysis(
        unit_id=unit.id,
        cycle_year=2025,
        title="Fastställd",
        status=AnalysisStatus.APPROVED,
        created_by_id=author.id,
        decided_at=utcnow(),
    )
    draft = SecurityAnalysis(unit_id=unit.id, cycle_year=2026, title="Utkast", created_by_id=author.id)
    db.add_all([approved, draft])
    db.flush()
    reference = AnalysisReference(
        analysis_id=draft.id, unit_id=unit.id, kind=ReferenceKind.THREAT, reference="Dnr 1"
    )
    link = AnalysisAsset(analysis_id=draft.id, asset_id=asset.id, damage_level=DamageLevel.MINOR)
    measure = Measure(
        analysis_id=draft.id,
        unit_id=unit.id,
        area=MeasureArea.PHYSICAL,
        title="Lås",
        responsible_function="Lokalansvarig",
        due_on=utcnow().date(),
    )
    holder = AssetHolder(asset_id=asset.id, user_id=author.id)
    appointment = Appointment(
        unit_id=unit.id,
        user_id=author.id,
        role=AppointmentRole.SAMORDNARE,
        starts_on=dt.date(2024, 1, 1),
        recorded_by_id=author.id,
    )
    db.add_all([reference, link, measure, appointment, holder])
    db.flush()
    procurement, parts = _procurement(unit, author)
    db.commit()
    position = vetting_services.create_position(
        author,
        unit,
        {
            "title": "Matrisbefattning",
            "security_class": "klass_2",
            "decided_on": dt.date(2026, 1, 1),
            "decided_by": "Kommunstyrelsen",
            "reference": "KS 1",
        },
    )
    vetting_case = vetting_services.open_case(
        author, unit, position_id=position.id, person_name="Matris Person", personnummer="19900101-0017"
    )
    db.commit()
    opened = db.scalar(
        select(AuditEvent.seq).where(
            AuditEvent.event == "vetting.case_opened", AuditEvent.target_id == str(vetting_case.id)
        )
    )
    return {
        "seq": str(opened),
        "position_id": str(position.id),
        "case_id": str(vetting_case.id),
        "step_id": str(vetting_case.steps[0].id),
        "procurement_id": str(procurement.id),
        **parts,
        "holder_id": str(holder.id),
        "notice_id": _notice(asset, author.id),
        "appointment_id": str(appointment.id),
        "analysis_id": str(draft.id),
        "other_analysis_id": str(approved.id),
        "reference_id": str(reference.id),
        "link_id": str(link.id),
        "measure_id": str(measure.id),
        "asset_id": str(asset.id),
    }


def _oversight(operator: Any, unit: Any, author: Any) -> dict[str, str]:
    """The operator's city-wide analysis with a measure and a note, and the unit's follow-up."""
    year = local_today().year
    citywide = CityWideAnalysis(id=uuid.uuid4(), operator_id=operator.id, year=year, created_by_id=author.id)
    measure = CityWideMeasure(id=uuid.uuid4(), analysis=citywide, position=1, title="Gemensam åtgärd")
    note = ThreatNote(
        id=uuid.uuid4(),
        analysis=citywide,
        noted_on=dt.date(year, 1, 2),
        source_reference="Lägesbild 1",
        categories=["sabotage"],
        created_by_id=author.id,
    )
    followup = AnnualFollowUp(
        id=uuid.uuid4(), unit_id=unit.id, year=year, due_on=dt.date(year, 9, 15), created_by_id=author.id
    )
    db.add_all([citywide, measure, note, followup])
    db.commit()
    return {
        "citywide_id": str(citywide.id),
        "citywide_measure_id": str(measure.id),
        "note_id": str(note.id),
        "followup_id": str(followup.id),
    }


def _world(app: Flask) -> World:
    own, foreign = make_operator("Egen kommun"), make_operator("Annan kommun")
    own_unit, foreign_unit = make_unit(own, "Egen nämnd"), make_unit(foreign, "Annan nämnd")
    targets: dict[bool, dict[str, str]] = {}
    for is_own, operator, unit in ((True, own, own_unit), (False, foreign, foreign_unit)):
        target = make_user(app, operator, roles=[(Role.SAMORDNARE, unit)])
        granter = make_user(app, operator, roles=[(Role.ADMIN, operator)])
        pending = RoleAssignment(
            user_id=target.id,
            role=Role.CHEF,
            operator_id=operator.id,
            status=AssignmentStatus.PENDING,
            granted_by_id=granter.id,
        )
        active = RoleAssignment(
            user_id=target.id,
            role=Role.REVISOR,
            operator_id=operator.id,
            status=AssignmentStatus.ACTIVE,
            granted_by_id=granter.id,
            decided_at=utcnow(),
        )
        db.add_all([pending, active])
        db.commit()
        targets[is_own] = {
            "user_id": str(target.id),
            "operator_id": str(operator.id),
            "unit_id": str(unit.id),
            "assignment_id": str(pending.id),
            "revoke_id": str(active.id),
            **_casework(unit, target.user),
            **_oversight(operator, unit, target.user),
        }
    return World(own, foreign, targets, own_unit)


def _expected(kind: str, role: Role | None, is_own: bool, has_object: bool) -> set[int]:
    if role is None:
        return {303, 401}  # to the login page (GET) or 401 (POST)
    if kind in DOMAIN_KINDS:
        loaders, actors = DOMAIN_KINDS[kind]
        if not has_object:
            return ALLOWED if role in actors else {403}
        if not is_own or role not in loaders:
            return {404}
        return ALLOWED if role in actors else {403}
    if kind == "self_object":  # an object addressed to the actor (a notice): anyone else's is 404
        return ALLOWED if is_own else {404}
    if kind == "self":
        return {200, 303}
    allowed = role == Role.ADMIN
    if not allowed:
        return {404} if has_object else {403}
    if has_object and not is_own:
        return {404}
    return {200, 303}


def _url(app: Flask, endpoint: str, arguments: set[str], values: dict[str, str], own_session: str) -> str:
    params = {}
    for name in arguments:
        if name == "session_id":
            params[name] = own_session
        elif endpoint.startswith("oversight.citywide") and name in ("analysis_id", "measure_id"):
            params[name] = values[{"analysis_id": "citywide_id", "measure_id": "citywide_measure_id"}[name]]
        elif name == "assignment_id":
            params[name] = values["revoke_id"] if endpoint == "admin.role_revoke" else values["assignment_id"]
        else:
            params[name] = values[name]
    if endpoint == "analyses.compare":
        params["med"] = values["other_analysis_id"]
    with app.test_request_context():
        return url_for(endpoint, **params)


def _csrf(client: Any) -> str:
    html = client.get("/").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', html
    )
    return match.group(1) if match else ""


@pytest.mark.parametrize("clearance", [0, 2])
@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value if r else "anonym")
def test_authorization_matrix(app: Flask, role: Role | None, clearance: int) -> None:
    world = _world(app)
    client = app.test_client()
    own_session = "00000000-0000-0000-0000-000000000000"
    if role is not None:
        # A unit role is held in the own side's unit, so the domain routes have an own object.
        scope = world.own_unit if role.scope == "unit" else world.own_operator
        actor: Person = make_user(app, world.own_operator, roles=[(role, scope)], clearance=clearance)
        # Notices are addressed to a person: the own side's notice is the actor's.
        own_asset = db.get(ProtectedAsset, uuid.UUID(world.targets[True]["asset_id"]))
        world.targets[True]["notice_id"] = _notice(own_asset, actor.id)
        # An upphandlare reaches the procurements they are responsible for: the own side's is the
        # actor's (answered by someone else, so a coordinator's confirmation is not their own).
        own_procurement = db.get(Procurement, uuid.UUID(world.targets[True]["procurement_id"]))
        own_procurement.responsible_id = actor.id
        db.commit()
        session_cookie(client, app, actor)
    token = _csrf(client) if role is not None else ""
    if role is None:
        client.get("/logga-in")
        html = client.get("/logga-in").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    failures = []
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint, sorted(r.methods or ())))
    for is_own in (True, False):
        for rule in rules:
            if rule.endpoint not in EXPECTATIONS:
                continue
            kind = EXPECTATIONS[rule.endpoint]
            has_object = bool(rule.arguments - {"session_id"})
            if rule.endpoint == "account.end_session" and role is not None:
                own_session = str(session_cookie(app.test_client(), app, actor).id)
            url = _url(app, rule.endpoint, set(rule.arguments), world.targets[is_own], own_session)
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                if method == "GET":
                    response = client.get(url)
                else:
                    response = client.post(url, data={"csrf_token": token, "next": "/", "is_active": "y"})
                expected = _expected(kind, role, is_own, has_object)
                if kind == "self" and rule.endpoint == "account.end_session" and role is not None:
                    expected = {303}
                if response.status_code not in expected:
                    failures.append(
                        f"{method} {rule.endpoint} own={is_own}: {response.status_code} not in {expected}"
                    )
                if (
                    role is not None
                    and response.status_code == 303
                    and "/logga-in" in response.headers.get("Location", "")
                ):
                    failures.append(f"{method} {rule.endpoint} own={is_own}: signed out by the request")
                    session_cookie(client, app, actor)
    assert not failures, "\n".join(failures)
