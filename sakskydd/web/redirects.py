"""Safe redirects: only to relative paths on this site."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, redirect, url_for


def is_safe_path(target: str | None) -> bool:
    if not target or len(target) > 2000:
        return False
    if any(ch in target for ch in "\r\n\t\\\x00"):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//")


def safe_redirect(target: str | None, fallback_endpoint: str = "main.home") -> Response:
    """303 to `target` when it is a local path, else to the fallback endpoint."""
    location = target if is_safe_path(target) else url_for(fallback_endpoint)
    return redirect(location, code=303)  # type: ignore[return-value]


def see_other(endpoint: str, **values: object) -> Response:
    return redirect(url_for(endpoint, **values), code=303)  # type: ignore[return-value]
