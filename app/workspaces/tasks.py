"""Background jobs of the workspaces feature."""

from __future__ import annotations

from flask import current_app, render_template, url_for

from app.adapters import mail
from app.extensions import db
from app.jobs.runtime import job
from app.workspaces.models import Invitation
from app.workspaces.service import invitation_token


@job
def send_invitation_email(invitation_id: int) -> str | None:
    """Send (or re-send) the invitation email; a closed invitation sends nothing."""
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.state != "pending":
        return None
    with current_app.test_request_context(base_url=current_app.config["PUBLIC_URL"]):
        link = url_for("auth.accept_invitation", token=invitation_token(invitation), _external=True)
        context = {"invitation": invitation, "link": link}
        text = render_template("email/invitation.txt", **context)
        html = render_template("email/invitation.html", **context)
    inviter = invitation.invited_by.display_name if invitation.invited_by else "A workspace owner"
    message = mail.compose(
        to=invitation.email,
        subject=f"{inviter} invited you to {invitation.workspace.name} on PenguinMails",
        text=text, html=html,
    )
    return mail.send(message)
