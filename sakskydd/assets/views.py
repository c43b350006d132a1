"""The asset register: list, search, edit, holders, notices and their acknowledgements."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, abort, flash, g, render_template, request
from flask_login import current_user
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import selectinload

from sakskydd.accounts.forms import ConfirmForm
from sakskydd.accounts.models import User
from sakskydd.assets import services
from sakskydd.assets.forms import (
    FIELD_LABELS,
    NAME_HINT,
    STATUS_LABELS,
    TYPE_LABELS,
    ArchiveForm,
    AssetForm,
    HolderForm,
)
from sakskydd.assets.models import (
    AssetHolder,
    AssetRevision,
    AssetStatus,
    AssetType,
    HolderNotice,
    ProtectedAsset,
)
from sakskydd.authz import permissions as perm
from sakskydd.authz.enforcement import authorize, is_allowed, parse_uuid
from sakskydd.classification import (
    CLASSIFICATION_LABELS,
    DAMAGE_LEVEL_LABELS,
    DamageLevel,
)
from sakskydd.extensions import db
from sakskydd.organisations.models import OrgUnit
from sakskydd.organisations.scope import load_readable_unit, readable_unit_ids
from sakskydd.web.actions import carry_out
from sakskydd.web.redirects import see_other

assets = Blueprint("assets", __name__)
PAGE_SIZE = 25
HISTORY_LIMIT = 50

_DAMAGE_RANK = case(*[(ProtectedAsset.damage_level == level, level.rank) for level in DamageLevel], else_=0)
_STATUS_RANK = case(
    *[(ProtectedAsset.status == status, rank) for rank, status in enumerate(AssetStatus)], else_=0
)
# Whitelisted sort keys (the `sortera` parameter) → ORDER BY; the id keeps pages stable.
ASSET_SORTS: dict[str, tuple[Any, ...]] = {
    "namn": (ProtectedAsset.name,),
    "typ": (ProtectedAsset.type, ProtectedAsset.name),
    "skadeniva": (_DAMAGE_RANK.desc(), ProtectedAsset.name),
    "status": (_STATUS_RANK.desc(), ProtectedAsset.name),
    "agare": (ProtectedAsset.owner, ProtectedAsset.name),
    "riskbedomd": (
        ProtectedAsset.risk_assessed_on.is_(None),
        ProtectedAsset.risk_assessed_on,
        ProtectedAsset.name,
    ),
    "skapad": (ProtectedAsset.created_at.desc(),),
}
SORT_LABELS = {
    "namn": "Namn",
    "typ": "Typ",
    "skadeniva": "Skadenivå (högst först)",
    "status": "Status (skyddsobjekt först)",
    "agare": "Informationsägare",
    "riskbedomd": "Datum för riskbedömning",
    "skapad": "Senast registrerade först",
}
# The `visa` filter: archived assets are hidden unless asked for.
SHOW_LABELS = {"aktuella": "Aktuella objekt", "arkiverade": "Arkiverade objekt", "alla": "Alla objekt"}


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


def display_value(field: str, value: Any, names: dict[str, str] | None = None) -> str:
    """A stored history value as the user reads it."""
    if value is None:
        return "–"
    if field == "type":
        return TYPE_LABELS.get(value, str(value))
    if field == "status":
        return STATUS_LABELS.get(value, str(value))
    if field == "damage_level":
        return DAMAGE_LEVEL_LABELS.get(value, str(value))
    if field == "classification":
        return CLASSIFICATION_LABELS.get(int(value), str(value))
    if field == "is_archived":
        return "Ja" if value else "Nej"
    if field == "holders":
        return (names or {}).get(str(value), "(borttagen)")
    return str(value)


@assets.context_processor
def _labels() -> dict[str, Any]:
    return {
        "TYPE_LABELS": TYPE_LABELS,
        "STATUS_LABELS": STATUS_LABELS,
        "DAMAGE_LEVEL_LABELS": DAMAGE_LEVEL_LABELS,
        "CLASSIFICATION_LABELS": CLASSIFICATION_LABELS,
        "FIELD_LABELS": FIELD_LABELS,
        "display_value": display_value,
        "SYSTEM_TYPE": AssetType.SYSTEM,
    }


# --- loaders: scoped by organisation in SQL, so foreign ids look like missing ones (404) -------


def load_unit(unit_id: str, **_: Any) -> OrgUnit | None:
    return load_readable_unit(unit_id, current_user.id)


def load_asset(asset_id: str, **_: Any) -> ProtectedAsset | None:
    ident = parse_uuid(asset_id)
    if ident is None:
        return None
    return db.scalar(
        select(ProtectedAsset)
        .where(ProtectedAsset.id == ident, ProtectedAsset.unit_id.in_(readable_unit_ids(current_user.id)))
        .options(selectinload(ProtectedAsset.unit))
    )


def load_notice_recipient(notice_id: str, **_: Any) -> User | None:
    """The signed-in user, if the notice is addressed to them (the policy decides on the user).

    The notice itself is kept in `g.holder_notice` for the view.
    """
    ident = parse_uuid(notice_id)
    if ident is None:
        return None
    notice = services.load_own_notice(ident, current_user.id)
    if notice is None:
        return None
    g.holder_notice = notice
    return _me()


# --- the register -----------------------------------------------------------------------------


@assets.route("/enheter/<unit_id>/objekt")
@authorize(perm.ASSET_LIST, load=load_unit)
def index(unit: OrgUnit, unit_id: str) -> Any:
    args = request.args
    query = (args.get("q") or "").strip()[:100]
    sort = args.get("sortera", "namn")
    if sort not in ASSET_SORTS:
        sort = "namn"
    type_filter = args.get("typ", "") if args.get("typ", "") in TYPE_LABELS else ""
    status_filter = args.get("status", "") if args.get("status", "") in STATUS_LABELS else ""
    level_filter = args.get("skadeniva", "") if args.get("skadeniva", "") in DAMAGE_LEVEL_LABELS else ""
    show = args.get("visa", "aktuella") if args.get("visa", "aktuella") in SHOW_LABELS else "aktuella"
    page = max(args.get("sida", 1, type=int) or 1, 1)

    # The same rule as the policy's classification forbid: nothing above the user's clearance.
    conditions = [ProtectedAsset.unit_id == unit.id, ProtectedAsset.classification <= _me().clearance]
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(
            or_(
                ProtectedAsset.name.ilike(pattern, escape="\\"),
                ProtectedAsset.owner.ilike(pattern, escape="\\"),
                ProtectedAsset.reference.ilike(pattern, escape="\\"),
            )
        )
    if type_filter:
        conditions.append(ProtectedAsset.type == AssetType(type_filter))
    if status_filter:
        conditions.append(ProtectedAsset.status == AssetStatus(status_filter))
    if level_filter:
        conditions.append(ProtectedAsset.damage_level == DamageLevel(level_filter))
    if show == "aktuella":
        conditions.append(ProtectedAsset.is_archived.is_(False))
    elif show == "arkiverade":
        conditions.append(ProtectedAsset.is_archived.is_(True))

    total = db.scalar(select(func.count()).select_from(ProtectedAsset).where(*conditions)) or 0
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = min(page, pages)
    rows = list(
        db.scalars(
            select(ProtectedAsset)
            .where(*conditions)
            .order_by(*ASSET_SORTS[sort], ProtectedAsset.id)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    )
    holder_counts: dict[uuid.UUID, int] = {}
    if rows:
        holder_counts = {
            asset_id: count
            for asset_id, count in db.execute(
                select(AssetHolder.asset_id, func.count())
                .where(AssetHolder.asset_id.in_([row.id for row in rows]))
                .group_by(AssetHolder.asset_id)
            )
        }
    filters = {
        "q": query,
        "typ": type_filter,
        "status": status_filter,
        "skadeniva": level_filter,
        "visa": show,
    }
    return render_template(
        "assets/index.html",
        unit=unit,
        assets=rows,
        holder_counts=holder_counts,
        total=total,
        page=page,
        pages=pages,
        sort=sort,
        filters=filters,
        is_filtered=bool(query or type_filter or status_filter or level_filter or show != "aktuella"),
        pager_args={"unit_id": unit.id, "sortera": sort, **{k: v for k, v in filters.items() if v}},
        sort_labels=SORT_LABELS,
        show_labels=SHOW_LABELS,
        can_create=is_allowed(perm.ASSET_CREATE, unit),
    )


def _error_messages(form: AssetForm, error: str | None) -> list[str]:
    return ([error] if error else []) + form.error_messages()


@assets.route("/enheter/<unit_id>/objekt/nytt", methods=["GET", "POST"])
@authorize(perm.ASSET_CREATE, load=load_unit)
def create(unit: OrgUnit, unit_id: str) -> Any:
    form = AssetForm()
    error = None
    if form.validate_on_submit():
        outcome = carry_out(
            lambda: services.create_asset(_me(), unit, form.values(), attested=bool(form.attested.data)),
            "Objektet är registrerat. Lägg till innehavare nedan.",
        )
        if outcome.done:
            return see_other("assets.detail", asset_id=outcome.value.id)
        error = outcome.error
    return render_template(
        "assets/form.html",
        form=form,
        unit=unit,
        asset=None,
        errors=_error_messages(form, error),
        name_hint=NAME_HINT,
        conflict=False,
    )


@assets.route("/objekt/<asset_id>")
@authorize(perm.ASSET_READ, load=load_asset)
def detail(asset: ProtectedAsset, asset_id: str) -> Any:
    services.record_asset_read(asset)
    db.commit()
    holders = list(
        db.scalars(
            select(AssetHolder)
            .where(AssetHolder.asset_id == asset.id)
            .options(selectinload(AssetHolder.holder_unit), selectinload(AssetHolder.user))
            .order_by(AssetHolder.created_at, AssetHolder.id)
        )
    )
    revisions = list(
        db.scalars(
            select(AssetRevision)
            .where(AssetRevision.asset_id == asset.id)
            .options(selectinload(AssetRevision.actor))
            .order_by(AssetRevision.created_at.desc(), AssetRevision.id)
            .limit(HISTORY_LIMIT)
        )
    )
    keys = {
        str(value)
        for revision in revisions
        for value in (revision.changes or {}).get("holders") or ()
        if value is not None
    }
    notices = services.notices_for_asset(asset.id)
    can_edit = not asset.is_archived and is_allowed(perm.ASSET_EDIT, asset)
    holder_form = _holder_form(asset)[0] if can_edit else None
    creator = db.get(User, asset.created_by_id)
    return render_template(
        "assets/detail.html",
        asset=asset,
        unit=asset.unit,
        holders=holders,
        revisions=revisions,
        holder_names=services.holder_names(keys),
        notices=notices,
        change_of=services.notice_change,
        can_edit=can_edit,
        holder_form=holder_form,
        creator=creator,
        history_limit=HISTORY_LIMIT,
    )


def _holder_form(asset: ProtectedAsset) -> tuple[HolderForm, list[OrgUnit], list[User]]:
    """The add-holder form with the units and people that may still be added."""
    tree = services.operator_tree_ids(asset.unit.operator_id)
    units = services.holder_unit_candidates(asset, tree)
    users = services.holder_user_candidates(asset, tree)
    form = HolderForm()
    form.holder.choices = {
        "Enheter": [(f"unit:{u.id}", u.name) for u in units],
        "Personer": [(f"user:{u.id}", f"{u.display_name} ({u.username})") for u in users],
    }
    return form, units, users


def _current_values(asset: ProtectedAsset) -> list[tuple[str, str]]:
    """The stored values, shown beside the user's input after a conflict."""
    rows = []
    for name in (
        "type",
        "name",
        "damage_level",
        "status",
        "owner",
        "reference",
        "location",
        "risk_assessed_on",
    ):
        value = getattr(asset, name)
        rows.append((FIELD_LABELS[name], display_value(name, getattr(value, "value", value))))
    rows.append((FIELD_LABELS["note"], asset.note or "–"))
    rows.append((FIELD_LABELS["classification"], display_value("classification", asset.classification)))
    return rows


@assets.route("/objekt/<asset_id>/andra", methods=["GET", "POST"])
@authorize(perm.ASSET_EDIT, load=load_asset)
def edit(asset: ProtectedAsset, asset_id: str) -> Any:
    if asset.is_archived:
        flash("Objektet är arkiverat och kan inte ändras.", "error")
        return see_other("assets.detail", asset_id=asset.id)
    if request.method == "GET":
        # The form shows the encrypted note: a read of the asset like the detail page.
        services.record_asset_read(asset, view="edit")
        db.commit()
        form = AssetForm(obj=asset, marking=asset.classification, version=asset.version)
        form.attested.data = False  # each save with free text is attested anew
        return _render_edit(form, asset, [], conflict=False)
    form = AssetForm()
    if not form.validate_on_submit():
        return _render_edit(form, asset, form.error_messages(), conflict=False)

    def save() -> tuple[AssetRevision | None, int]:
        revision = services.update_asset(
            _me(), asset, form.values(), form.version.data, attested=bool(form.attested.data)
        )
        if revision is None:
            return None, 0
        notices = (
            select(func.count()).select_from(HolderNotice).where(HolderNotice.revision_id == revision.id)
        )
        return revision, db.scalar(notices) or 0

    outcome = carry_out(save, None)
    if outcome.stale:
        # Keep what the user typed; the next save is made against the version now shown.
        form.version.data = asset.version
        form.version.raw_data = [str(asset.version)]
        return _render_edit(form, asset, [outcome.error or ""], conflict=True), 409
    if not outcome.done:
        return _render_edit(form, asset, [outcome.error or ""], conflict=False)
    revision, notified = outcome.value
    if revision is None:
        flash("Inga ändringar att spara.", "info")
        return see_other("assets.detail", asset_id=asset.id)
    flash("Ändringarna är sparade.", "success")
    if notified:
        flash(f"{notified} innehavare har fått ett meddelande om ändringen och ombeds kvittera det.", "info")
    return see_other("assets.detail", asset_id=asset.id)


def _render_edit(form: AssetForm, asset: ProtectedAsset, errors: list[str], *, conflict: bool) -> str:
    return render_template(
        "assets/form.html",
        form=form,
        unit=asset.unit,
        asset=asset,
        errors=errors,
        name_hint=NAME_HINT,
        conflict=conflict,
        current=_current_values(asset) if conflict else None,
    )


# --- holders ----------------------------------------------------------------------------------


@assets.route("/objekt/<asset_id>/innehavare", methods=["POST"])
@authorize(perm.ASSET_EDIT, load=load_asset)
def add_holder(asset: ProtectedAsset, asset_id: str) -> Any:
    if asset.is_archived:
        flash("Objektet är arkiverat och kan inte ändras.", "error")
        return see_other("assets.detail", asset_id=asset.id)
    form, units, users = _holder_form(asset)
    if not form.validate_on_submit():
        flash("Välj en enhet eller en person i listan.", "error")
        return see_other("assets.detail", asset_id=asset.id)
    kind, _, raw = (form.holder.data or "").partition(":")
    unit = next((u for u in units if str(u.id) == raw), None) if kind == "unit" else None
    user = next((u for u in users if str(u.id) == raw), None) if kind == "user" else None
    if unit is None and user is None:
        abort(404)
    return _back_to_asset(
        asset_id, lambda: services.add_holder(_me(), asset, unit=unit, user=user), "Innehavaren är tillagd."
    )


@assets.route("/objekt/<asset_id>/innehavare/<holder_id>/ta-bort", methods=["GET", "POST"])
@authorize(perm.ASSET_EDIT, load=load_asset)
def remove_holder(asset: ProtectedAsset, asset_id: str, holder_id: str) -> Any:
    ident = parse_uuid(holder_id)
    holder = (
        db.scalar(
            select(AssetHolder)
            .where(AssetHolder.id == ident, AssetHolder.asset_id == asset.id)
            .options(selectinload(AssetHolder.holder_unit), selectinload(AssetHolder.user))
        )
        if ident is not None
        else None
    )
    if holder is None:
        abort(404)
    form = ConfirmForm()
    if request.method == "GET":
        return render_template("assets/confirm_remove_holder.html", asset=asset, holder=holder, form=form)
    if not form.validate_on_submit():
        abort(400)
    return _back_to_asset(
        asset_id, lambda: services.remove_holder(_me(), asset, holder), "Innehavaren är borttagen."
    )


def _back_to_asset(asset_id: str, action: Any, message: str) -> Any:
    """A small change from the asset page: carry it out, then back there with a message."""
    outcome = carry_out(action, message)
    if not outcome.done:
        flash(outcome.error or "", "error")
    return see_other("assets.detail", asset_id=asset_id)


# --- archive ----------------------------------------------------------------------------------


@assets.route("/objekt/<asset_id>/arkivera", methods=["GET", "POST"])
@authorize(perm.ASSET_EDIT, load=load_asset)
def archive(asset: ProtectedAsset, asset_id: str) -> Any:
    if asset.is_archived:
        flash("Objektet är redan arkiverat.", "info")
        return see_other("assets.detail", asset_id=asset.id)
    if request.method == "GET":
        form = ArchiveForm(version=asset.version)
        return render_template("assets/confirm_archive.html", asset=asset, form=form)
    form = ArchiveForm()
    if not form.validate_on_submit():
        abort(400)
    unit_id = asset.unit_id
    outcome = carry_out(
        lambda: services.archive_asset(_me(), asset, form.version.data),
        "Objektet är arkiverat. Det visas under Arkiverade objekt i registret.",
    )
    if not outcome.done:
        flash(outcome.error or "", "error")
        return see_other("assets.detail", asset_id=asset_id)
    return see_other("assets.index", unit_id=unit_id)


# --- notices to holders -----------------------------------------------------------------------


@assets.route("/notiser/<notice_id>")
@authorize(perm.NOTICE_ACKNOWLEDGE, load=load_notice_recipient)
def notice(user: User, notice_id: str) -> Any:
    holder_notice: HolderNotice = g.holder_notice
    return render_template(
        "assets/notice.html",
        notice=holder_notice,
        asset=holder_notice.asset,
        change=services.notice_change(holder_notice.revision),
        form=ConfirmForm(),
        can_read_asset=is_allowed(perm.ASSET_READ, holder_notice.asset),
    )


@assets.route("/notiser/<notice_id>/kvittera", methods=["POST"])
@authorize(perm.NOTICE_ACKNOWLEDGE, load=load_notice_recipient)
def acknowledge(user: User, notice_id: str) -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    holder_notice: HolderNotice = g.holder_notice
    done = services.acknowledge_notice(user, holder_notice)
    db.commit()
    if done:
        flash("Tack! Din kvittens är registrerad.", "success")
    else:
        flash("Du har redan kvitterat den här ändringen.", "info")
    return see_other("assets.notice", notice_id=notice_id)
