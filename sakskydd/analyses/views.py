"""Säkerhetsskyddsanalyser: list, edit, plan, workflow, versions and comparison."""

from __future__ import annotations

from flask import Blueprint

analyses = Blueprint("analyses", __name__)
