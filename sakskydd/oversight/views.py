"""The chef's consolidated picture and the stadsövergripande säkerhetsanalys."""

from __future__ import annotations

from flask import Blueprint

oversight = Blueprint("oversight", __name__)
