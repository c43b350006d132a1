"""Generic error pages with a correlation id; never a stack trace or internal detail."""

from __future__ import annotations

import logging
import traceback

from flask import Flask, g, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from sakskydd.crypto.errors import DecryptionError

log = logging.getLogger("sakskydd.errors")

MESSAGES = {
    400: ("Felaktig begäran", "Begäran kunde inte tolkas. Kontrollera det du skickade och försök igen."),
    401: ("Inloggning krävs", "Du behöver logga in för att fortsätta."),
    403: ("Åtkomst nekad", "Du har inte behörighet till den här sidan eller åtgärden."),
    404: ("Sidan finns inte", "Sidan du sökte finns inte, eller så saknar du behörighet till den."),
    405: ("Metoden stöds inte", "Den här sidan kan inte användas på det sättet."),
    409: ("Konflikt", "Någon annan har ändrat uppgifterna under tiden. Ladda om sidan och försök igen."),
    413: ("För stor begäran", "Det du skickade är för stort."),
    429: ("För många försök", "Du har gjort för många försök. Vänta en stund och försök igen."),
    500: ("Tekniskt fel", "Något gick fel hos oss. Ange referensen nedan om du kontaktar supporten."),
}


def render_error(code: int):  # type: ignore[no-untyped-def]
    from sakskydd.extensions import db

    db.rollback()
    title, text = MESSAGES.get(code, MESSAGES[500])
    request_id = getattr(g, "request_id", None) or "-"
    return render_template(
        "errors/error.html", code=code, title=title, text=text, request_id=request_id
    ), code


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):  # type: ignore[no-untyped-def]
        return render_error(400)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):  # type: ignore[no-untyped-def]
        code = error.code or 500
        return render_error(code if code in MESSAGES else 500)

    @app.errorhandler(DecryptionError)
    def _decryption(error: DecryptionError):  # type: ignore[no-untyped-def]
        # A sealed value that does not open is tampering or a missing key: the request's own
        # changes are rolled back, the failure (where, never what) is audited on its own.
        from sakskydd.crypto.services import record_decryption_failure
        from sakskydd.extensions import db

        db.rollback()
        try:
            record_decryption_failure(error)
            db.commit()
        except Exception:  # noqa: BLE001 - the page must still be generic
            db.rollback()
            log.exception("could not audit a decryption failure request_id=%s", getattr(g, "request_id", "-"))
        log.error(
            "decryption failed request_id=%s table=%s column=%s",
            getattr(g, "request_id", "-"),
            error.table,
            error.column,
        )
        return render_error(InternalServerError.code)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):  # type: ignore[no-untyped-def]
        if isinstance(error, HTTPException):
            return _http(error)
        # The exception message is left out on purpose: it can carry SQL parameters or values.
        stack = "".join(traceback.format_tb(error.__traceback__))
        log.error(
            "unhandled error request_id=%s type=%s\n%s",
            getattr(g, "request_id", "-"),
            type(error).__name__,
            stack,
        )
        return render_error(InternalServerError.code)
