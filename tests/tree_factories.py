"""Domain trees for the tree tests: subdomains under a domain, chains levels deep."""

from __future__ import annotations

from app.domains.models import Domain, DomainStatus
from app.workspaces.models import Workspace
from tests.factories import DomainFactory


def subdomain(parent: Domain, label: str, **fields) -> Domain:
    """`label.<parent>`, a subdomain of `parent` in its workspace."""
    return DomainFactory(workspace=parent.workspace, parent=parent,
                         fqdn=f"{label}.{parent.fqdn}", **fields)


def chain(root: Domain, *labels: str) -> list[Domain]:
    """Nested subdomains, each under the one before: chain(root, "news", "eu") makes
    news.<root> and eu.news.<root>."""
    made, parent = [], root
    for label in labels:
        parent = subdomain(parent, label)
        made.append(parent)
    return made


def with_subdomains(workspace: Workspace, fqdn: str, count: int,
                    status: DomainStatus = DomainStatus.PENDING) -> tuple[Domain, list[Domain]]:
    """A top-level domain with `count` subdomains s00, s01, … under it."""
    root = DomainFactory(workspace=workspace, fqdn=fqdn, status=status)
    return root, [subdomain(root, f"s{number:02d}") for number in range(count)]
