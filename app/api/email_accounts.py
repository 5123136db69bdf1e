"""Email accounts (sending identities) of a domain over the API."""

from __future__ import annotations

from flask import g, url_for

from app.api.auth import api_blueprint
from app.api.domains import domain_in_workspace
from app.api.schemas import AccountIn, AccountOut, AccountPatchIn
from app.domains import accounts
from app.domains.models import EmailAccount
from app.uow import commit

bp = api_blueprint("api_email_accounts", __name__, url_prefix="/api/v1/domains/<int:domain_id>",
                   description="Sending identities under a verified domain.")


def _account(domain_id: int, account_id: int) -> EmailAccount:
    return accounts.get_account(g.actor, domain_in_workspace(domain_id), account_id)


@bp.route("/accounts", methods=["GET"])
@bp.response(200, AccountOut(many=True))
@bp.alt_response(404, response="NOT_FOUND")
def list_accounts(domain_id: int):
    """The domain's email accounts, by local part."""
    return accounts.list_accounts(g.actor, domain_in_workspace(domain_id))


@bp.route("/accounts", methods=["POST"])
@bp.arguments(AccountIn)
@bp.response(201, AccountOut)
@bp.alt_response(404, response="NOT_FOUND")
@bp.alt_response(409, response="CONFLICT")
def create_account(body: dict, domain_id: int):
    """Add a sending identity; the domain must be verified (409 `domain_not_verified`)."""
    account = accounts.create_account(g.actor, domain_in_workspace(domain_id), body["local_part"],
                                      display_name=body["display_name"],
                                      daily_limit=body["daily_limit"])
    commit()
    location = url_for("api_email_accounts.get_account", domain_id=domain_id,
                       account_id=account.id)
    return account, 201, {"Location": location}


@bp.route("/accounts/<int:account_id>", methods=["GET"])
@bp.response(200, AccountOut)
@bp.alt_response(404, response="NOT_FOUND")
def get_account(domain_id: int, account_id: int):
    """One email account."""
    return _account(domain_id, account_id)


@bp.route("/accounts/<int:account_id>", methods=["PATCH"])
@bp.arguments(AccountPatchIn)
@bp.response(200, AccountOut)
@bp.alt_response(404, response="NOT_FOUND")
@bp.alt_response(409, response="CONFLICT")
def update_account(body: dict, domain_id: int, account_id: int):
    """Change the display name, daily limit or status (`paused` / `active`)."""
    account = accounts.update_account(g.actor, _account(domain_id, account_id),
                                      accounts.AccountChanges(**body))
    commit()
    return account


@bp.route("/accounts/<int:account_id>", methods=["DELETE"])
@bp.response(204)
@bp.alt_response(404, response="NOT_FOUND")
def delete_account(domain_id: int, account_id: int):
    """Remove an email account."""
    accounts.delete_account(g.actor, _account(domain_id, account_id))
    commit()
