"""The base of every form: WTForms' own messages in Swedish (its bundled `sv` catalogue).

Flask-WTF only translates through Flask-Babel, which sakskydd does not use, so
`create_app` turns that off (WTF_I18N_ENABLED = False) and forms name their locale here.
"""

from __future__ import annotations

from flask_wtf import FlaskForm


class SwedishForm(FlaskForm):
    class Meta:
        locales = ("sv",)

    def error_messages(self) -> list[str]:
        """Every error with its field label, for the summary at the top of the page."""
        messages = []
        for field in self:
            # The attestation's label is a whole sentence; its error says everything on its own.
            label = "" if field.name == "attested" else field.label.text
            for error in field.errors:
                messages.append(f"{label}: {error}" if label else str(error))
        return messages
