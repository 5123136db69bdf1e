"""Delivery events in, reputation out."""

from __future__ import annotations

import json

import marshmallow as ma
from flask import g, request

from app.api.auth import api_blueprint
from app.api.domains import domain_in_workspace
from app.api.schemas import ErrorResponse, QueryArgs
from app.core import reputation as core
from app.errors import AppError, ValidationFailed
from app.reputation import ingest, service
from app.uow import commit

bp = api_blueprint("api_events", __name__, url_prefix="/api/v1",
                   description="Delivery events in, reputation out.")


class MalformedJson(AppError):
    status = 400
    code = "malformed_json"


class RejectionOut(ma.Schema):
    index = ma.fields.Integer(metadata={"description": "The row's position in `events`, from 0."})
    code = ma.fields.String(metadata={"description": "Stable: missing_id, bad_id, missing_domain, "
                                                     "unknown_domain, missing_type, bad_type, "
                                                     "missing_at, bad_at, at_in_future, too_old, "
                                                     "bad_ip, bad_region, bad_account, "
                                                     "bad_bounce_class, bounce_class_not_a_bounce, "
                                                     "unknown_field, not_an_object."})
    message = ma.fields.String()


class EventBatchOut(ma.Schema):
    received = ma.fields.Integer(metadata={"description": "Rows in the batch."})
    accepted = ma.fields.Integer(metadata={"description": "Rows stored now."})
    duplicates = ma.fields.Integer(metadata={"description": "Valid rows whose id was already "
                                                          "stored (a replay): not stored again."})
    rejected = ma.fields.List(ma.fields.Nested(RejectionOut))


class ReputationArgs(QueryArgs):
    from_ = ma.fields.String(data_key="from", metadata={
        "description": "First day (YYYY-MM-DD, UTC); by default 29 days before `to`."})
    to = ma.fields.String(metadata={"description": "Last day (YYYY-MM-DD, UTC); today by default."})


def _counts_out(counts: core.EventCounts) -> dict:
    rates = counts.rates()
    return {**{name: getattr(counts, name) for name in core.COUNT_FIELDS}, "sent": counts.sent,
            "bounce_rate": rates.bounce, "complaint_rate": rates.complaint}


@bp.route("/events", methods=["POST"])
@bp.response(200, EventBatchOut)
@bp.alt_response(413, schema=ErrorResponse, description="More than 10,000 events, or a body over "
                                                     "16 MB: nothing stored (`batch_too_large`).")
@bp.alt_response(422, schema=ErrorResponse, description="The body is not `{\"events\": [...]}`.")
def ingest_events():
    """Store a batch of up to 10,000 delivery events (members and above).

    Body: `{"events": [{"id", "domain", "type", "at", "account"?, "region"?, "ip"?,
    "bounce_class"?}]}`. `type` is one of delivered, bounced, deferred, complained, opened,
    clicked, unsubscribed; `bounce_class` (bounced only) one of hard, soft, block,
    undetermined; `at` is ISO 8601 with a zone, at most 5 minutes ahead and 90 days back.

    Rows are checked one by one: the valid ones are stored, the others listed in `rejected`
    with their index, and the answer is 200 either way. `id` makes a row idempotent: a row
    sent again is counted in `duplicates`, never stored twice, so a batch that timed out can
    simply be resent. Scores and charts follow within the roll-up interval (10 minutes).
    """
    g.actor.require_write()
    if (request.content_length or 0) > ingest.MAX_BODY_BYTES:
        raise ingest.BatchTooLarge(f"The body is over {ingest.MAX_BODY_BYTES // 2**20} MB; send "
                                   f"at most {ingest.MAX_BATCH:,} events a request.")
    try:
        body = json.loads(request.get_data(cache=False))
    except ValueError:
        raise MalformedJson("The request body is not valid JSON.") from None
    result = ingest.ingest(g.actor.workspace.id, ingest.events_of(body))
    commit()
    return result.to_dict()


@bp.route("/domains/<int:domain_id>/reputation", methods=["GET"])
@bp.arguments(ReputationArgs, location="query")
@bp.response(200)
@bp.alt_response(404, response="NOT_FOUND")
def domain_reputation(args: dict, domain_id: int):
    """The domain's own reputation score over the 30 days ending `to`, what cost it points,
    its subtree's score, and day by day counts, rates and score over [`from`, `to`].

    `score` is null while the domain sent nothing in the window. The formula is in the README
    ("Reputation score"); `subtree` weighs the domain and its descendants by volume.
    """
    domain = domain_in_workspace(domain_id)
    try:
        date_range = service.parse_range(args.get("from_"), args.get("to"))
    except service.RangeError as error:
        raise ValidationFailed("The date range is not valid; see `fields`.",
                               fields=error.fields) from None
    report = service.domain_reputation(domain, date_range)
    current, summary = report.current, report.summary
    return {
        "domain": domain.fqdn,
        "from": date_range.first.isoformat(), "to": date_range.last.isoformat(),
        "window_days": core.WINDOW_DAYS,
        "score": current.score if current else None,
        "band": current.band if current else None,
        "low_volume": current.low_volume if current else False,
        "breakdown": [d._asdict() for d in current.deductions] if current else [],
        "window": _counts_out(current.counts) if current else None,
        "standing": {"blacklistings": report.standing.blacklistings,
                     "dns_health": report.standing.dns_health},
        "subtree": {"score": summary.subtree_score, "band": summary.subtree_band,
                    "sent": summary.subtree_sent},
        "daily": [{"day": point.day.isoformat(), "score": point.score,
                   **_counts_out(point.counts)} for point in report.daily],
        "regions": [{"region": row.key, **_counts_out(row.counts)} for row in report.regions],
        "ips": [{"ip": row.key, **_counts_out(row.counts)} for row in report.ips],
    }
