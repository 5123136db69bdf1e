"""Subdomains over the API: list and add under a domain."""

from __future__ import annotations

from flask import g, url_for

from app.api.auth import api_blueprint
from app.api.domains import domain_in_workspace, domain_out
from app.api.schemas import DomainOut, DomainSummaryOut, SubdomainIn
from app.domains import service
from app.subdomains.service import add_subdomain
from app.uow import commit

bp = api_blueprint("api_subdomains", __name__, url_prefix="/api/v1",
                   description="Subdomains over the API: list and add under a domain.")


@bp.route("/domains/<int:domain_id>/subdomains", methods=["GET"])
@bp.response(200, DomainSummaryOut(many=True))
@bp.alt_response(404, response="NOT_FOUND")
def list_subdomains(domain_id: int):
    """The domain's direct subdomains, by name (deeper ones: ask each of them)."""
    return service.list_domains(g.actor, parent=domain_id)


@bp.route("/domains/<int:domain_id>/subdomains", methods=["POST"])
@bp.arguments(SubdomainIn)
@bp.response(201, DomainOut)
@bp.alt_response(404, response="NOT_FOUND")
@bp.alt_response(409, response="CONFLICT")
def create_subdomain(body: dict, domain_id: int):
    """Add a subdomain with its own DKIM key, records and verification.

    422 `subdomain_outside_parent` for a full name that is not under the domain; 409
    `domain_exists` when it is already in the workspace. While no domain above it is
    verified, its records include an ownership TXT of its own.
    """
    domain = add_subdomain(g.actor, domain_in_workspace(domain_id), body["name"],
                           algorithm=body["algorithm"])
    commit()
    location = url_for("api_domains.get_domain", domain_id=domain.id)
    return domain_out(domain), 201, {"Location": location}
