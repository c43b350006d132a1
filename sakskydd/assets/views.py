"""The asset register: list, search, edit, holders, notices and their acknowledgements."""

from __future__ import annotations

from flask import Blueprint

assets = Blueprint("assets", __name__)
