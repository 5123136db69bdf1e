"""Alert channels and alert history over the API."""

from __future__ import annotations

import marshmallow as ma
from flask import g, url_for

from app.api.auth import api_blueprint
from app.api.schemas import QueryArgs
from app.monitoring import alerts
from app.monitoring.models import AlertChannel, ChannelKind, DeliveryStatus
from app.uow import commit

bp = api_blueprint("api_alerts", __name__, url_prefix="/api/v1",
                   description="Alert channels (email, signed webhooks) and their deliveries.")

MAX_PER_PAGE = 100


class AlertChannelIn(ma.Schema):
    kind = ma.fields.Enum(ChannelKind, by_value=True, required=True)
    name = ma.fields.String(load_default="", metadata={
        "description": "How the channel shows in lists; a default is made up when empty.",
        "maxLength": 100})
    addresses = ma.fields.List(ma.fields.String(), metadata={
        "description": f"email: up to {alerts.MAX_ADDRESSES} recipient addresses."})
    url = ma.fields.String(metadata={
        "description": "webhook: an http(s) URL that resolves to public addresses only."})

    @ma.validates_schema
    def target_for_kind(self, data: dict, **kwargs) -> None:
        needed = "addresses" if data.get("kind") == ChannelKind.EMAIL else "url"
        if data.get(needed) is None:
            raise ma.ValidationError(f"Required for a {data.get('kind').value} channel.",
                                     field_name=needed)


class AlertChannelOut(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.Enum(ChannelKind, by_value=True)
    name = ma.fields.String()
    target = ma.fields.String(metadata={
        "description": "The addresses, or the webhook URL (whole for owners and admins; "
                       "origin only for others, since a URL path can hold a credential)."})
    enabled = ma.fields.Boolean()
    created_at = ma.fields.DateTime()


class NewAlertChannelOut(AlertChannelOut):
    secret = ma.fields.String(allow_none=True, metadata={
        "description": "webhook: the signing secret, returned this once and never again "
                       "(regenerate it with POST …/secret). Null for email."})


class AlertChannelPatchIn(ma.Schema):
    enabled = ma.fields.Boolean(required=True, metadata={
        "description": "false: the channel gets no alerts (tests still go through)."})


class WebhookSecretOut(ma.Schema):
    secret = ma.fields.String(metadata={"description": "Shown once; store it now."})


class TestAlertOut(ma.Schema):
    alert_id = ma.fields.Integer()
    event_id = ma.fields.String()


class AlertPageArgs(QueryArgs):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=2**31 - 1))
    per_page = ma.fields.Integer(load_default=25,
                                 validate=ma.validate.Range(min=1, max=MAX_PER_PAGE))


class AlertDeliveryOut(ma.Schema):
    id = ma.fields.Integer()
    alert_id = ma.fields.Integer()
    status = ma.fields.Enum(DeliveryStatus, by_value=True, metadata={
        "description": "pending, retrying (see next_attempt_at), delivered, or failed "
                       "(refused for good, or out of retries)."})
    attempts = ma.fields.Integer()
    status_code = ma.fields.Integer(allow_none=True, metadata={
        "description": "The webhook's last HTTP status; null for email or no answer."})
    error = ma.fields.String()
    attempt_log = ma.fields.List(ma.fields.Dict(), metadata={
        "description": "Every attempt: at, status_code, error."})
    created_at = ma.fields.DateTime()
    next_attempt_at = ma.fields.DateTime(allow_none=True)
    delivered_at = ma.fields.DateTime(allow_none=True)


class AlertDeliveryPageOut(ma.Schema):
    deliveries = ma.fields.List(ma.fields.Nested(AlertDeliveryOut))
    page = ma.fields.Integer()
    pages = ma.fields.Integer()
    total = ma.fields.Integer()


class AlertOut(ma.Schema):
    id = ma.fields.Integer()
    event_id = ma.fields.String(metadata={"description": "As sent in webhook deliveries."})
    kind = ma.fields.String(metadata={
        "description": "drift, resolved, records_changed, test, or another feature's kind."})
    subject = ma.fields.String()
    domain_id = ma.fields.Integer(allow_none=True)
    payload = ma.fields.Dict(metadata={"description": "The webhook body's `data`."})
    created_at = ma.fields.DateTime()


class AlertPageOut(ma.Schema):
    alerts = ma.fields.List(ma.fields.Nested(AlertOut))
    page = ma.fields.Integer()
    pages = ma.fields.Integer()
    total = ma.fields.Integer()


def _channel(channel_id: int) -> AlertChannel:
    """The token's workspace's channel; another workspace's id is a 404 like an unknown one."""
    return AlertChannel.get_for(g.actor.workspace.id, channel_id)


def _out(channel: AlertChannel, **extra) -> dict:
    columns = {name: getattr(channel, name) for name in ("id", "kind", "name", "enabled",
                                                         "created_at")}
    return {**columns, "target": alerts.display_target(
        channel, full=g.actor.role.can_administer), **extra}


@bp.route("/alert-channels", methods=["GET"])
@bp.response(200, AlertChannelOut(many=True))
def list_channels():
    """The workspace's alert channels, oldest first."""
    return [_out(channel) for channel in alerts.list_channels(g.actor)]


@bp.route("/alert-channels", methods=["POST"])
@bp.arguments(AlertChannelIn)
@bp.response(201, NewAlertChannelOut)
@bp.alt_response(409, response="CONFLICT")
def create_channel(body: dict):
    """Add an email or webhook channel (owners and admins).

    A webhook URL is resolved now and must lead only to public addresses (422
    `webhook_private_address`). The response carries the webhook's signing secret, once.
    """
    secret = None
    if body["kind"] == ChannelKind.EMAIL:
        channel = alerts.create_email_channel(g.actor, body["name"],
                                              ", ".join(body["addresses"]))
    else:
        channel, secret = alerts.create_webhook_channel(g.actor, body["name"], body["url"])
    commit()
    location = url_for("api_alerts.get_channel", channel_id=channel.id)
    return _out(channel, secret=secret), 201, {"Location": location,
                                                "Cache-Control": "no-store"}


@bp.route("/alert-channels/<int:channel_id>", methods=["GET"])
@bp.response(200, AlertChannelOut)
@bp.alt_response(404, response="NOT_FOUND")
def get_channel(channel_id: int):
    """One alert channel."""
    return _out(_channel(channel_id))


@bp.route("/alert-channels/<int:channel_id>", methods=["PATCH"])
@bp.arguments(AlertChannelPatchIn)
@bp.response(200, AlertChannelOut)
@bp.alt_response(404, response="NOT_FOUND")
def update_channel(body: dict, channel_id: int):
    """Switch a channel on or off (owners and admins)."""
    channel = alerts.set_enabled(g.actor, _channel(channel_id), body["enabled"])
    commit()
    return _out(channel)


@bp.route("/alert-channels/<int:channel_id>", methods=["DELETE"])
@bp.response(204)
@bp.alt_response(404, response="NOT_FOUND")
def delete_channel(channel_id: int):
    """Delete a channel and its delivery log (owners and admins)."""
    alerts.delete_channel(g.actor, _channel(channel_id))
    commit()


@bp.route("/alert-channels/<int:channel_id>/test", methods=["POST"])
@bp.response(202, TestAlertOut)
@bp.alt_response(404, response="NOT_FOUND")
def send_test(channel_id: int):
    """Send a test alert to this channel through the real delivery path; follow it in
    /deliveries."""
    alert = alerts.send_test(g.actor, _channel(channel_id))
    commit()
    return {"alert_id": alert.id, "event_id": alert.event_id}


@bp.route("/alert-channels/<int:channel_id>/secret", methods=["POST"])
@bp.response(200, WebhookSecretOut)
@bp.alt_response(404, response="NOT_FOUND")
@bp.alt_response(409, response="CONFLICT")
def regenerate_secret(channel_id: int):
    """Replace a webhook's signing secret; the old one stops working at once."""
    secret = alerts.regenerate_secret(g.actor, _channel(channel_id))
    commit()
    return {"secret": secret}, 200, {"Cache-Control": "no-store"}


@bp.route("/alert-channels/<int:channel_id>/deliveries", methods=["GET"])
@bp.arguments(AlertPageArgs, location="query")
@bp.response(200, AlertDeliveryPageOut)
@bp.alt_response(404, response="NOT_FOUND")
def deliveries(args: dict, channel_id: int):
    """The channel's delivery log, newest first."""
    page = alerts.channel_deliveries(_channel(channel_id), args["page"], args["per_page"])
    return {"deliveries": page.items, "page": page.page, "pages": page.pages,
            "total": page.total}


@bp.route("/alerts", methods=["GET"])
@bp.arguments(AlertPageArgs, location="query")
@bp.response(200, AlertPageOut)
def list_alerts(args: dict):
    """The workspace's alerts, newest first."""
    page = alerts.recent_alerts(g.actor, args["page"], args["per_page"])
    return {"alerts": page.items, "page": page.page, "pages": page.pages, "total": page.total}
