"""Subdomains: sending domains below another domain of the workspace (`marketing.example.com`).

A subdomain is an ordinary Domain row with a `parent_id`: it has its own DKIM key and
selector record, its own SPF/DMARC/return-path/tracking records, verification and health,
so one team's mail never rides on another's keys or reputation. What it shares with its
ancestors is ownership: once any ancestor is verified, control of the DNS tree is proven and
the subdomain publishes no ownership token of its own (see `ownership_proven_above`).
"""

from __future__ import annotations

from app.core.names import is_subdomain_of
from app.domains import service as domains
from app.domains.models import Domain
from app.errors import NotFound, ValidationFailed
from app.workspaces.actor import Actor


def full_name(parent: Domain, raw_name: str) -> str:
    """The normalised name meant by a label (`marketing`) or a full name under `parent`.

    A name with a dot that already ends in the parent's name is taken as written; any other
    name with a dot is refused rather than guessed at, since `eu.news` could be a name in
    the `.news` TLD as well as a label pair.
    """
    text = (raw_name or "").strip().removesuffix(".")
    if not text:
        raise _refused("subdomain_empty", f"Enter a label such as marketing, or a full name "
                       f"such as marketing.{parent.fqdn}.")
    if "." not in text:
        return domains.checked_name(f"{text}.{parent.fqdn}")
    fqdn = domains.checked_name(text)
    if fqdn == parent.fqdn:
        raise _refused("subdomain_is_parent", f"{fqdn} is the domain itself; a subdomain adds "
                       f"a label in front of it, such as marketing.{parent.fqdn}.")
    if not is_subdomain_of(fqdn, parent.fqdn):
        raise _refused("subdomain_outside_parent",
                       f"{fqdn} is not under {parent.fqdn}: a subdomain of {parent.fqdn} ends "
                       f"in .{parent.fqdn}, such as marketing.{parent.fqdn}. To add {fqdn} "
                       "itself, add it as a domain.")
    return fqdn


def nearest_parent(workspace_id: int, fqdn: str, picked: Domain) -> Domain:
    """The closest domain of the workspace above `fqdn`, at or below the one picked.

    Adding `eu.news.example.com` from example.com's page hangs it under news.example.com when
    that is in the workspace, so the tree mirrors DNS.
    """
    return domains.nearest_ancestor(workspace_id, fqdn, within=picked.fqdn) or picked


def add_subdomain(actor: Actor, parent: Domain, raw_name: str, *,
                  algorithm: str = "rsa-2048") -> Domain:
    """Add a subdomain under `parent` (a domain of the actor's workspace) with its own key."""
    actor.require_write()
    if parent.workspace_id != actor.workspace.id:
        raise NotFound("No such domain in this workspace.")
    fqdn = full_name(parent, raw_name)
    return domains.create_domain(actor, fqdn, algorithm=algorithm,
                                 parent=nearest_parent(actor.workspace.id, fqdn, parent))


def _refused(code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, fields={"name": message})
