"""Cross-cutting HTTP hardening: input sanity, Origin check, security headers."""

from __future__ import annotations

import secrets
from urllib.parse import unquote_to_bytes, urlsplit

from flask import Flask, Response, abort, current_app, g, request

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The only bodies the app takes: HTML forms. Flask-WTF would read a JSON body as form data (and
# fail with a server error on a JSON list or number).
FORM_MIMETYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _has_bad_bytes(raw: bytes) -> bool:
    if b"\x00" in raw:
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def check_input() -> None:
    """NUL bytes or invalid UTF-8 anywhere in the path, query or form body, or a body that is not
    a form → 400."""
    # Each request starts with a clean `g`: Flask-WTF (CSRF token) and Flask-Login (user) cache
    # on it, and an app context held across requests (CLI, tests) must not carry them over.
    for key in list(g):
        g.pop(key, None)
    g.request_id = secrets.token_hex(8)
    path = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
    query = request.query_string
    if _has_bad_bytes(unquote_to_bytes(path)) or _has_bad_bytes(unquote_to_bytes(query)):
        abort(400)
    if request.method in UNSAFE_METHODS:
        length = request.content_length
        if length is not None and length > current_app.config["MAX_CONTENT_LENGTH"]:
            abort(413)
        body = request.get_data(cache=True)
        if body and request.mimetype not in FORM_MIMETYPES:
            abort(400)
        if _has_bad_bytes(body) or _has_bad_bytes(unquote_to_bytes(body.replace(b"+", b" "))):
            abort(400)
        if request.mimetype == "multipart/form-data" and (None in request.form or None in request.files):
            abort(400)  # a part without a name: Flask-WTF's CSRF check would fail on its None key


def check_origin() -> None:
    """Unsafe requests must come from our own pages (Origin/Sec-Fetch-Site), besides CSRF tokens."""
    if request.method not in UNSAFE_METHODS:
        return
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        abort(403)
    if site == "same-origin":
        return  # with Referrer-Policy no-referrer, browsers send Origin: null even on same-origin POSTs
    origin = request.headers.get("Origin")
    if origin is None:
        return  # not sent by this client; the CSRF token still decides
    if origin == "null":
        abort(403)
    expected = urlsplit(request.host_url)
    actual = urlsplit(origin)
    if (actual.scheme, actual.netloc) != (expected.scheme, expected.netloc):
        abort(403)


def set_security_headers(response: Response) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    if current_app.config["SAKSKYDD_SETTINGS"].hsts:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    if request.endpoint != "static":
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    request_id = getattr(g, "request_id", None)
    if request_id:
        headers["X-Request-Id"] = request_id
    return response


def init_app(app: Flask) -> None:
    app.before_request(check_input)
    app.before_request(check_origin)
    app.after_request(set_security_headers)
