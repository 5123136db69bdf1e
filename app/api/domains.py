"""Sending domains over the API: add, list, read, delete, DNS records, verification, keys."""

from __future__ import annotations

from flask import Response, g, url_for

from app.api.auth import api_blueprint
from app.api.schemas import (DkimKeyIn, DkimKeyOut, DnsRecordOut, DnsRecordsArgs, DomainIn,
                             DomainListArgs, DomainOut, DomainPatchIn, DomainSummaryOut, JobOut,
                             NewDkimKeyOut, VerificationOut)
from app.core import records as core_records
from app.domains import rotation, service, tags
from app.domains.models import Domain
from app.errors import AppError
from app.uow import commit

bp = api_blueprint("api_domains", __name__, url_prefix="/api/v1",
                   description="Sending domains: the records to publish, verification, DKIM keys.")

# ?format= → media type, file extension, and the text for a list of records in a zone.
DOWNLOADS = {
    "bind": ("text/plain", "zone", core_records.to_bind),
    "csv": ("text/csv", "csv", lambda records, zone: core_records.to_csv(records)),
}


def domain_in_workspace(domain_id: int) -> Domain:
    """The token's workspace's domain; another workspace's id is a 404 like an unknown one."""
    return Domain.get_for(g.actor.workspace.id, domain_id)


def domain_out(domain: Domain) -> dict:
    """The columns DomainSummaryOut shows, plus the key and records the service works out."""
    columns = {field.attribute or name: getattr(domain, field.attribute or name)
               for name, field in DomainSummaryOut().fields.items()}
    return {**columns, "dkim_key": service.current_key(domain),
            "dns_records": service.expected_records(domain)}


@bp.route("/domains", methods=["GET"])
@bp.arguments(DomainListArgs, location="query")
@bp.response(200, DomainSummaryOut(many=True))
@bp.alt_response(404, response="NOT_FOUND")
def list_domains(args: dict):
    """The workspace's domains, by name, narrowed by `status`, `tag`, `group` and `parent`.

    `parent=<id>` lists that domain's direct subdomains (404 for an id of another
    workspace); `parent=none` lists only top-level domains.
    """
    return service.list_domains(g.actor, tag=args.get("tag"), group=args.get("group"),
                                parent=args.get("parent"), status=args.get("status"))


@bp.route("/domains", methods=["POST"])
@bp.arguments(DomainIn)
@bp.response(201, DomainOut)
@bp.alt_response(409, response="CONFLICT")
def add_domain(body: dict):
    """Add a sending domain and start generating its DKIM key.

    The DKIM record joins `dns_records` once the key job has run: poll the domain until
    `dkim_key.state` is no longer `generating`.
    """
    domain = service.add_domain(g.actor, body["name"], algorithm=body["algorithm"])
    commit()
    location = url_for("api_domains.get_domain", domain_id=domain.id)
    return domain_out(domain), 201, {"Location": location}


@bp.route("/domains/<int:domain_id>", methods=["GET"])
@bp.response(200, DomainOut)
@bp.alt_response(404, response="NOT_FOUND")
def get_domain(domain_id: int):
    """One domain with its status and the records to publish."""
    return domain_out(domain_in_workspace(domain_id))


@bp.route("/domains/<int:domain_id>", methods=["PATCH"])
@bp.arguments(DomainPatchIn)
@bp.response(200, DomainOut)
@bp.alt_response(404, response="NOT_FOUND")
def update_domain(body: dict, domain_id: int):
    """Change the key rotation cadence (`dkim_rotation_days`, null: never), the `tags`
    (the whole list) or the `group` (null: none). All or nothing: a refused field changes
    nothing."""
    domain = domain_in_workspace(domain_id)
    if "tags" in body:
        tags.set_tags(g.actor, domain, body["tags"])
    if "group" in body:
        tags.set_group(g.actor, domain, body["group"])
    if "dkim_rotation_days" in body:
        rotation.set_rotation_cadence(g.actor, domain, body["dkim_rotation_days"])
    commit()
    return domain_out(domain)


@bp.route("/domains/<int:domain_id>", methods=["DELETE"])
@bp.response(204)
@bp.alt_response(404, response="NOT_FOUND")
def delete_domain(domain_id: int):
    """Remove a domain and its email accounts; its private keys are destroyed."""
    service.delete_domain(g.actor, domain_in_workspace(domain_id))
    commit()


@bp.route("/domains/<int:domain_id>/dns-records", methods=["GET"])
@bp.arguments(DnsRecordsArgs, location="query")
@bp.response(200, DnsRecordOut(many=True))
@bp.doc(responses={200: {"content": {
    "text/plain": {"schema": {"type": "string"}},
    "text/csv": {"schema": {"type": "string"}}}}})
@bp.alt_response(404, response="NOT_FOUND")
def dns_records(args: dict, domain_id: int):
    """The records to publish, as JSON, a BIND zone-file snippet or CSV."""
    domain = domain_in_workspace(domain_id)
    records = service.expected_records(domain)
    requested = args["format"]
    if requested == "json":
        return records
    if requested not in DOWNLOADS:
        raise AppError(f"Unknown format “{requested}”; use json, bind or csv.",
                       code="unknown_format", fields={"format": "Use json, bind or csv."})
    mimetype, extension, render = DOWNLOADS[requested]
    return Response(render(records, domain.fqdn), mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{domain.fqdn}.{extension}"'})


@bp.route("/domains/<int:domain_id>/verify", methods=["POST"])
@bp.response(202, JobOut)
@bp.alt_response(404, response="NOT_FOUND")
def verify(domain_id: int):
    """Check the domain's DNS now; poll /verification for the outcome."""
    job_id = service.request_check(g.actor, domain_in_workspace(domain_id))
    commit()
    return {"job_id": job_id}


@bp.route("/domains/<int:domain_id>/verification", methods=["GET"])
@bp.response(200, VerificationOut)
@bp.alt_response(404, response="NOT_FOUND")
def verification(domain_id: int):
    """Where verification stands, with the latest check's result for every record."""
    domain = domain_in_workspace(domain_id)
    snapshot = service.latest_snapshot(domain)
    return {"status": domain.status, "verified_at": domain.verified_at,
            "last_checked_at": domain.last_checked_at, "next_check_at": domain.next_check_at,
            "checked_at": snapshot.checked_at if snapshot else None,
            "records": snapshot.results if snapshot else []}


@bp.route("/domains/<int:domain_id>/dkim-keys", methods=["GET"])
@bp.response(200, DkimKeyOut(many=True))
@bp.alt_response(404, response="NOT_FOUND")
def dkim_keys(domain_id: int):
    """Every DKIM key of the domain, oldest first: public keys only."""
    return domain_in_workspace(domain_id).keys


@bp.route("/domains/<int:domain_id>/dkim-keys", methods=["POST"])
@bp.arguments(DkimKeyIn)
@bp.response(201, NewDkimKeyOut)
@bp.alt_response(404, response="NOT_FOUND")
@bp.alt_response(409, response="CONFLICT")
def add_dkim_key(body: dict, domain_id: int):
    """Add an Ed25519 key that signs beside the RSA key (dual signing).

    The domain needs an active or pending RSA key (409 `ed25519_needs_rsa_key`) and can hold
    one Ed25519 key (409 `ed25519_key_exists`). Publish its record from `dns_records` once it
    is `pending`; it signs from the moment every nameserver serves it.
    """
    key = rotation.add_dual_signing_key(g.actor, domain_in_workspace(domain_id),
                                        body["algorithm"])
    commit()
    return key


@bp.route("/domains/<int:domain_id>/dkim-keys/rotate", methods=["POST"])
@bp.response(202, NewDkimKeyOut)
@bp.alt_response(404, response="NOT_FOUND")
@bp.alt_response(409, response="CONFLICT")
def rotate_dkim_key(domain_id: int):
    """Start replacing the RSA key with a new one under the next selector.

    The old key keeps signing until every nameserver serves the new key's record (see
    `dns_records`), then retires after a grace period. 409 `rotation_needs_active_key` before
    verification, `rotation_in_progress` while a new RSA key is still on its way in.
    """
    key = rotation.start_rotation(g.actor, domain_in_workspace(domain_id))
    commit()
    return key
