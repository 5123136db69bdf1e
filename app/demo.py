"""`flask demo seed`: a small, realistic set of accounts to click around in."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.auth import service as auth
from app.auth.models import User
from app.uow import commit
from app.workspaces import service as workspaces
from app.workspaces.actor import Actor
from app.workspaces.models import Workspace
from app.workspaces.roles import Role

demo_cli = AppGroup("demo", help="Demo data.")

DEMO_PASSWORD = "penguin-demo-2026"
DEMO_TEAMS = {
    "acme-agency": ("Acme Agency", [("owner@acme.example", Role.OWNER),
                                    ("ops@acme.example", Role.ADMIN),
                                    ("writer@acme.example", Role.MEMBER),
                                    ("client@acme.example", Role.VIEWER)]),
    "globex": ("Globex Corporation", [("it@globex.example", Role.OWNER),
                                      ("owner@acme.example", Role.ADMIN)]),
}


@demo_cli.command("seed")
def seed() -> None:
    """Create demo workspaces and users (idempotent); every password is printed below."""
    for slug, (name, people) in DEMO_TEAMS.items():
        workspace = Workspace.by_slug(slug)
        for email, role in people:
            user = User.by_email(email) or auth.create_user(email, DEMO_PASSWORD,
                                                            name=email.split("@")[0].title())
            if workspace is None:
                workspace = workspaces.create_workspace(user, name, slug, via="cli")
                continue
            system = Actor.system(workspace, "cli")
            membership = workspaces.add_member(system, user, role)
            if membership.role != role and membership.role != Role.OWNER:
                workspaces.change_role(system, membership.id, role)
        owner = User.by_email(people[0][0])
        actor = Actor(user=owner, workspace=workspace, role=Role.OWNER, via="cli")
        pending_email = f"newcomer@{slug}.example"
        if all(i.email != pending_email for i in workspaces.pending_invitations(actor)):
            workspaces.invite(actor, pending_email, Role.MEMBER)
    commit()
    click.echo(f"Demo data ready. Every demo user's password is {DEMO_PASSWORD!r}:")
    for slug, (_, people) in DEMO_TEAMS.items():
        for email, role in people:
            click.echo(f"  {email:<24} {role.value:<7} in {slug}")
