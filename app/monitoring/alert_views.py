"""Alert channels (email, webhooks), their delivery log, and the alerts sent.

Everyone in the workspace can read the channels and their logs; owners and admins add,
switch, test and delete them. A new or regenerated webhook secret is rendered in that one
response only, never flashed (the session cookie would carry it) or cached.
"""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField, URLField
from wtforms.validators import Length

from app.adapters import webhooks
from app.errors import AppError
from app.monitoring import alerts
from app.monitoring.models import AlertChannel, ChannelKind, DeliveryStatus
from app.uow import commit
from app.web.forms import apply_error
from app.web.rendering import render_page
from app.workspaces.context import workspace_blueprint

bp = workspace_blueprint("alerts", __name__, "/alerts")

NAME_HINT = "Optional: how the channel shows in lists, e.g. “Ops on-call”."


class EmailChannelForm(FlaskForm):
    name = StringField("Name", validators=[Length(max=100)], description=NAME_HINT)
    addresses = TextAreaField("Email addresses", description=(
        f"Up to {alerts.MAX_ADDRESSES}, separated by commas or new lines."))


class WebhookChannelForm(FlaskForm):
    name = StringField("Name", validators=[Length(max=100)], description=NAME_HINT)
    url = URLField("URL", description="https://… — it must resolve to a public address.")


def _page_number() -> int:
    raw = request.args.get("page", "")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**31 else 1


def _channel(channel_id: int) -> AlertChannel:
    return AlertChannel.get_for(g.workspace.id, channel_id)


def _index(*, email_form: EmailChannelForm | None = None,
           webhook_form: WebhookChannelForm | None = None, new_secret: str | None = None,
           new_channel: AlertChannel | None = None, status: int = 200):
    page = alerts.recent_alerts(g.actor, _page_number())
    response = render_page(
        "alerts/index.html", fragment="alerts/_alerts.html", target="recent-alerts",
        status=status, channels=alerts.list_channels(g.actor), alerts_page=page,
        counts=alerts.delivery_counts([alert.id for alert in page.items]),
        email_form=email_form or EmailChannelForm(formdata=None),
        webhook_form=webhook_form or WebhookChannelForm(formdata=None),
        new_secret=new_secret, new_channel=new_channel, **_shared())
    return _no_store(response) if new_secret else response


def _shared() -> dict:
    return {"can_manage": g.actor.role.can_administer, "display_target": alerts.display_target,
            "ChannelKind": ChannelKind, "webhooks": webhooks}


def _no_store(response):
    body, status = response
    return body, status, {"Cache-Control": "no-store"}


@bp.route("/")
def index():
    return _index()


@bp.route("/channels/email", methods=["POST"])
def create_email():
    g.actor.require_admin()
    form = EmailChannelForm()
    if not form.validate_on_submit():
        return _index(email_form=form, status=422)
    try:
        channel = alerts.create_email_channel(g.actor, form.name.data, form.addresses.data or "")
    except AppError as error:
        apply_error(form, error)
        return _index(email_form=form, status=error.status)
    commit()
    flash(f"Alerts now also go to {channel.target}. Use “Send test” to try it.", "success")
    return redirect(url_for(".index"))


@bp.route("/channels/webhook", methods=["POST"])
def create_webhook():
    g.actor.require_admin()
    form = WebhookChannelForm()
    if not form.validate_on_submit():
        return _index(webhook_form=form, status=422)
    try:
        channel, secret = alerts.create_webhook_channel(g.actor, form.name.data,
                                                        form.url.data or "")
    except AppError as error:
        apply_error(form, error)
        return _index(webhook_form=form, status=error.status)
    commit()
    return _index(new_secret=secret, new_channel=channel, status=201)


def _channel_page(channel: AlertChannel, *, new_secret: str | None = None, status: int = 200):
    deliveries = alerts.channel_deliveries(channel, _page_number())
    pending = any(delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
                  for delivery in deliveries.items)
    response = render_page(
        "alerts/channel.html", fragment="alerts/_deliveries.html", target="deliveries",
        status=status, channel=channel, deliveries=deliveries, pending=pending,
        alerts_by_id=alerts.alerts_by_id({d.alert_id for d in deliveries.items}),
        new_secret=new_secret, **_shared())
    return _no_store(response) if new_secret else response


@bp.route("/channels/<int:channel_id>")
def channel(channel_id: int):
    return _channel_page(_channel(channel_id))


@bp.route("/channels/<int:channel_id>/enable", methods=["POST"])
def enable(channel_id: int):
    channel = alerts.set_enabled(g.actor, _channel(channel_id), True)
    commit()
    flash(f"“{channel.name}” is on: new alerts go to it.", "success")
    return redirect(url_for(".index"))


@bp.route("/channels/<int:channel_id>/disable", methods=["POST"])
def disable(channel_id: int):
    channel = alerts.set_enabled(g.actor, _channel(channel_id), False)
    commit()
    flash(f"“{channel.name}” is off: it gets no alerts until you switch it on again.",
          "success")
    return redirect(url_for(".index"))


@bp.route("/channels/<int:channel_id>/test", methods=["POST"])
def send_test(channel_id: int):
    channel = _channel(channel_id)
    alerts.send_test(g.actor, channel)
    commit()
    flash("A test alert is on its way; its delivery shows below.", "success")
    return redirect(url_for(".channel", channel_id=channel.id))


@bp.route("/channels/<int:channel_id>/secret", methods=["POST"])
def regenerate_secret(channel_id: int):
    channel = _channel(channel_id)
    secret = alerts.regenerate_secret(g.actor, channel)
    commit()
    return _channel_page(channel, new_secret=secret)


@bp.route("/channels/<int:channel_id>/delete", methods=["POST"])
def delete(channel_id: int):
    channel = _channel(channel_id)
    name = channel.name
    alerts.delete_channel(g.actor, channel)
    commit()
    flash(f"“{name}” was deleted with its delivery log.", "success")
    return redirect(url_for(".index"))
