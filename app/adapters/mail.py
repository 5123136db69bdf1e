"""Outgoing mail: through an SMTP relay when `SMTP_URL` is set, else to a local outbox.

`SMTP_URL` looks like `smtp://user:pass@host:587?starttls=1` or `smtps://host:465`.
The outbox default writes one `.eml` file per message under `instance/outbox/`, which
is what a laptop install wants: mail is visible without a relay.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from flask import current_app

from app.core.clock import utcnow

log = logging.getLogger(__name__)


def compose(to: str, subject: str, text: str, html: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="penguinmails.localhost")
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


def send(message: EmailMessage) -> str:
    """Deliver one message; returns where it went (for logs and tests)."""
    smtp_url = current_app.config["SMTP_URL"]
    if smtp_url:
        return _send_smtp(smtp_url, message)
    return _write_outbox(Path(current_app.config["OUTBOX_DIR"]), message)


def _send_smtp(smtp_url: str, message: EmailMessage) -> str:
    url = urlparse(smtp_url)
    if url.scheme not in {"smtp", "smtps"} or not url.hostname:
        raise ValueError(f"SMTP_URL must look like smtp://host:port, got scheme {url.scheme!r}")
    options = parse_qs(url.query)
    port = url.port or (465 if url.scheme == "smtps" else 25)
    context = ssl.create_default_context()
    client_class = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    kwargs = {"context": context} if url.scheme == "smtps" else {}
    with client_class(url.hostname, port, timeout=30, **kwargs) as client:
        if options.get("starttls", ["0"])[0] in {"1", "true", "yes"}:
            client.starttls(context=context)
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        client.send_message(message)
    log.info("mail to %s sent through %s:%s", message["To"], url.hostname, port)
    return f"smtp://{url.hostname}:{port}"


def _write_outbox(folder: Path, message: EmailMessage) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
    # "/" and other path characters are valid in an address's local part (RFC 5322 atext).
    recipient = re.sub(r"[^\w.+@-]", "_", message["To"]).replace("@", "_at_")
    path = folder / f"{stamp}-{recipient}.eml"
    path.write_bytes(message.as_bytes())
    log.info("mail to %s written to outbox %s (no SMTP_URL configured)", message["To"], path)
    return str(path)
