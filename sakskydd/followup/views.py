"""Pages of the yearly follow-up (årlig uppföljning)."""

from __future__ import annotations

from flask import Blueprint

followup = Blueprint("followup", __name__)
