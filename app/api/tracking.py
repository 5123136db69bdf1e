"""Custom tracking hosts, their certificates, and tracked links over the API."""

from __future__ import annotations

import marshmallow as ma
from flask import g, url_for

from app.api.auth import api_blueprint
from app.api.domains import domain_in_workspace
from app.api.schemas import DnsRecordOut, JobOut
from app.tracking import service
from app.tracking.models import HostStatus, TrackingHost
from app.uow import commit

bp = api_blueprint("api_tracking", __name__, url_prefix="/api/v1",
                   description="Custom tracking hosts with automatic TLS, and tracked links.")


class TrackingFindingOut(ma.Schema):
    code = ma.fields.String(metadata={"description": "Stable code, e.g. TRACKING_CNAME_WRONG."})
    severity = ma.fields.String()
    record = ma.fields.Dict(metadata={"description": "The host and type the finding is about."})
    message = ma.fields.String()
    fix = ma.fields.String()


class TrackingCertificateErrorOut(ma.Schema):
    code = ma.fields.String(attribute="error_code", metadata={
        "description": "acme_<ACME error type>, acme_unavailable or acme_timeout."})
    message = ma.fields.String(attribute="error_message",
                               metadata={"description": "What the CA said, in plain words."})
    fix = ma.fields.String(attribute="error_fix")


class TrackingCertificateOut(ma.Schema):
    """The certificate's public facts; its private key never leaves the key store."""

    serial = ma.fields.String(attribute="certificate_serial")
    not_before = ma.fields.DateTime()
    not_after = ma.fields.DateTime()
    issued_at = ma.fields.DateTime()


class TrackingHostOut(ma.Schema):
    id = ma.fields.Integer()
    domain_id = ma.fields.Integer()
    hostname = ma.fields.String()
    status = ma.fields.Enum(HostStatus, by_value=True, metadata={
        "description": "pending (waiting for the CNAME), issuing, active, expiring (renewal "
                       "failing close to the end) or failed (see `error`)."})
    dns_record = ma.fields.Method("_record", metadata={
        "description": "The CNAME to publish."})
    findings = ma.fields.List(ma.fields.Nested(TrackingFindingOut), metadata={
        "description": "What the last DNS check found wrong (CNAME, CAA), with the fix."})
    error = ma.fields.Method("_error", allow_none=True,
                             metadata={"description": "The last failed certificate order."})
    certificate = ma.fields.Method("_certificate", allow_none=True)
    attempts = ma.fields.Integer(metadata={"description": "Consecutive failures."})
    next_attempt_at = ma.fields.DateTime(allow_none=True)
    checked_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()

    def _record(self, host: TrackingHost) -> dict:
        return DnsRecordOut().dump(service.expected_record(host))

    def _error(self, host: TrackingHost) -> dict | None:
        return TrackingCertificateErrorOut().dump(host) if host.error_code else None

    def _certificate(self, host: TrackingHost) -> dict | None:
        return TrackingCertificateOut().dump(host) if host.not_after else None


class TrackingHostIn(ma.Schema):
    name = ma.fields.String(required=True, metadata={
        "description": "A label under the domain (`track`) or a full name ending in it.",
        "example": "track"})


class TrackedMessageIn(ma.Schema):
    domain = ma.fields.String(required=True, metadata={
        "description": "The sending domain (one of the workspace's).", "example": "example.com"})
    message_id = ma.fields.String(required=True, metadata={
        "description": "The MTA's id of the message; asking again for it returns the same links.",
        "maxLength": service.MAX_MESSAGE_ID_LENGTH})
    urls = ma.fields.List(ma.fields.String(), required=True, metadata={
        "description": "The message's link targets: absolute http(s) URLs.",
        "maxItems": service.MAX_URLS_PER_MESSAGE})
    account = ma.fields.String(load_default=None, allow_none=True, metadata={
        "description": "The sending address, recorded on its click and open events."})


class TrackedLinkOut(ma.Schema):
    url = ma.fields.String()
    tracked_url = ma.fields.String(metadata={
        "description": "Put this in the message instead of `url`; it redirects there."})


class TrackedMessageOut(ma.Schema):
    message_id = ma.fields.String()
    host = ma.fields.String(metadata={
        "description": "The domain's active tracking host, or the platform's while none is."})
    open_url = ma.fields.String(metadata={"description": "The 1x1 open pixel for the message."})
    links = ma.fields.List(ma.fields.Nested(TrackedLinkOut))


def _host(host_id: int) -> TrackingHost:
    """The token's workspace's host; another workspace's id is a 404 like an unknown one."""
    return TrackingHost.get_for(g.actor.workspace.id, host_id)


@bp.route("/tracking-hosts", methods=["GET"])
@bp.response(200, TrackingHostOut(many=True))
def list_hosts():
    """Every tracking host of the workspace, by name."""
    return service.list_hosts(g.actor)


@bp.route("/domains/<int:domain_id>/tracking-hosts", methods=["GET"])
@bp.response(200, TrackingHostOut(many=True))
@bp.alt_response(404, response="NOT_FOUND")
def domain_hosts(domain_id: int):
    """The domain's tracking hosts."""
    return service.list_hosts(g.actor, domain_in_workspace(domain_id))


@bp.route("/domains/<int:domain_id>/tracking-hosts", methods=["POST"])
@bp.arguments(TrackingHostIn)
@bp.response(201, TrackingHostOut)
@bp.alt_response(404, response="NOT_FOUND")
@bp.alt_response(409, response="CONFLICT")
def add_host(body: dict, domain_id: int):
    """Add a tracking host under the domain; publish its `dns_record`, then follow `status`.

    422 for a name outside the domain (`tracking_host_outside_domain`) or the domain itself;
    409 `tracking_host_exists` / `tracking_host_taken` when the name is already claimed.
    """
    host = service.add_host(g.actor, domain_in_workspace(domain_id), body["name"])
    commit()
    return host, 201, {"Location": url_for("api_tracking.get_host", tracking_host_id=host.id)}


@bp.route("/tracking-hosts/<int:tracking_host_id>", methods=["GET"])
@bp.response(200, TrackingHostOut)
@bp.alt_response(404, response="NOT_FOUND")
def get_host(tracking_host_id: int):
    """One host with its status, findings, last error and certificate."""
    return _host(tracking_host_id)


@bp.route("/tracking-hosts/<int:tracking_host_id>", methods=["DELETE"])
@bp.response(204)
@bp.alt_response(404, response="NOT_FOUND")
def delete_host(tracking_host_id: int):
    """Stop serving the host; its certificate's private key is destroyed."""
    service.remove_host(g.actor, _host(tracking_host_id))
    commit()


@bp.route("/tracking-hosts/<int:tracking_host_id>/check", methods=["POST"])
@bp.response(202, JobOut)
@bp.alt_response(404, response="NOT_FOUND")
def check_host(tracking_host_id: int):
    """Check the CNAME now and, when it reaches us, retry the certificate."""
    job_id = service.request_check(g.actor, _host(tracking_host_id))
    commit()
    return {"job_id": job_id}


@bp.route("/tracking/messages", methods=["POST"])
@bp.arguments(TrackedMessageIn)
@bp.response(201, TrackedMessageOut)
@bp.alt_response(200, schema=TrackedMessageOut, success=True,
                 description="The message was tracked before: the same links, new URLs added.")
def track_message(body: dict):
    """Tracked URLs for a message's links, and its open pixel (called by the MTA).

    One bad URL refuses the whole message (422, `fields.urls` by index) and stores nothing.
    Asking again for a message returns its links as before (200), new URLs added.
    """
    tracked = service.register_message(g.actor, domain_name=body["domain"],
                                       message_id=body["message_id"], urls=body["urls"],
                                       account=body["account"])
    commit()
    return ({"message_id": tracked.message.message_id, "host": tracked.message.hostname,
             "open_url": tracked.open_url,
             "links": [{"url": url, "tracked_url": tracked_url}
                       for url, tracked_url in tracked.links]},
            201 if tracked.created else 200)
