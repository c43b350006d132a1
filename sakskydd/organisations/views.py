"""The unit pages: applicability, appointments, revision triggers; the operator's supervisors."""

from __future__ import annotations

from flask import Blueprint

units = Blueprint("units", __name__)
