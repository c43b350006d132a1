"""Outgoing e-mail: SMTP when SAKSKYDD_SMTP_URL is set, else an outbox folder (mode 0600 files)."""

from __future__ import annotations

import os
import re
import secrets
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask import current_app

from sakskydd.db import utcnow

_HEADER_BAD = re.compile(r"[\r\n]")


def build_message(to: str, subject: str, body: str) -> EmailMessage:
    settings = current_app.config["SAKSKYDD_SETTINGS"]
    if _HEADER_BAD.search(to) or _HEADER_BAD.search(subject):
        raise ValueError("line breaks are not allowed in e-mail headers")
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


def outbox_path() -> Path:
    return Path(current_app.config["SAKSKYDD_SETTINGS"].instance_path) / "outbox"


def send_mail(to: str, subject: str, body: str) -> None:
    message = build_message(to, subject, body)
    settings = current_app.config["SAKSKYDD_SETTINGS"]
    if settings.smtp_url:
        _send_smtp(settings.smtp_url, message)
        return
    folder = outbox_path()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"{utcnow():%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}.eml"
    fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(bytes(message))


def _send_smtp(url: str, message: EmailMessage) -> None:
    parts = urlsplit(url)
    port = parts.port or (465 if parts.scheme == "smtps" else 587)
    # TLS always verifies the server's certificate and name (smtplib does not by default).
    context = ssl.create_default_context()
    host = parts.hostname or "localhost"
    if parts.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=20, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=20)
    with client:
        if parts.scheme == "smtp+starttls" or (parts.scheme == "smtp" and port == 587):
            client.starttls(context=context)
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(message)
