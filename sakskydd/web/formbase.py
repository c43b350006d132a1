"""The base of every form: WTForms' own messages in Swedish (its bundled `sv` catalogue).

Flask-WTF only translates through Flask-Babel, which sakskydd does not use, so
`create_app` turns that off (WTF_I18N_ENABLED = False) and forms name their locale here.
"""

from __future__ import annotations

from flask_wtf import FlaskForm


class SwedishForm(FlaskForm):
    class Meta:
        locales = ("sv",)
