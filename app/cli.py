"""`flask` sub-commands: users, tokens, demo data, and `portal up` (run everything)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from app.auth import service as auth
from app.auth import tokens
from app.auth.models import User
from app.errors import AppError
from app.uow import commit
from app.workspaces import service as workspaces
from app.workspaces.actor import Actor
from app.workspaces.models import Workspace
from app.workspaces.roles import Role

users_cli = AppGroup("users", help="Create and list user accounts.")
tokens_cli = AppGroup("tokens", help="Create API tokens.")


def _fail(error: AppError) -> None:
    raise click.ClickException(error.message)


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 10 characters.")
@click.option("--workspace", "slug", required=True, help="Slug; created when it does not exist.")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.OWNER.value,
              show_default=True)
@click.option("--name", default="")
@click.option("--platform-admin", is_flag=True, help="May open /admin/rq and platform views.")
def create_user(email: str, password: str, slug: str, role: str, name: str,
                platform_admin: bool) -> None:
    """Create a user (or reuse one with that email) and give them a role in a workspace."""
    wanted = Role(role)
    slug = slug.strip().lower()
    try:
        existing = User.by_email(email)
        user = existing or auth.create_user(email, password, name=name,
                                            platform_admin=platform_admin)
        user.is_platform_admin = user.is_platform_admin or platform_admin
        workspace = Workspace.by_slug(slug)
        if workspace is None:
            if wanted != Role.OWNER:
                raise click.ClickException(
                    f"Workspace {slug!r} does not exist yet; its first member must be its "
                    "owner (use --role owner).")
            workspaces.create_workspace(user, slug, slug, via="cli")
        else:
            membership = workspaces.add_member(Actor.system(workspace, "cli"), user, wanted)
            workspaces.change_role(Actor.system(workspace, "cli"), membership.id, wanted)
    except AppError as error:
        _fail(error)
    commit()
    click.echo(f"{user.email} is {role} of workspace {slug}"
               f"{' (platform admin)' if user.is_platform_admin else ''}.")
    if existing:
        click.echo("The account already existed: its name and password were not changed.")


@users_cli.command("list")
def list_users() -> None:
    from sqlalchemy import select

    from app.extensions import db

    for user in db.session.scalars(select(User).order_by(User.email)):
        roles = ", ".join(f"{ws.slug}:{m.role.value}" for ws, m in user.workspaces())
        flag = " [platform admin]" if user.is_platform_admin else ""
        click.echo(f"{user.email}{flag}  {roles}")


@tokens_cli.command("create")
@click.option("--email", required=True)
@click.option("--workspace", "slug", required=True)
@click.option("--name", default="CLI token", show_default=True)
def create_token(email: str, slug: str, name: str) -> None:
    """Create an API token and print it once; only its digest is stored."""
    user = User.by_email(email)
    if user is None:
        raise click.ClickException(f"No user with email {email!r}.")
    workspace = Workspace.by_slug(slug)
    membership = user.membership_in(workspace.id) if workspace else None
    if membership is None:
        raise click.ClickException(f"{email} is not a member of a workspace {slug!r}.")
    actor = Actor(user=user, workspace=workspace, role=membership.role, via="cli")
    try:
        _, secret = tokens.create_token(actor, name)
    except AppError as error:
        _fail(error)
    commit()
    click.echo(secret)


def register_cli(app: Flask) -> None:
    from app.demo import demo_cli
    from app.monitoring.cli import dns_cli
    from app.portal import portal_cli
    from app.tracking.cli import tracking_cli

    for group in (users_cli, tokens_cli, demo_cli, portal_cli, dns_cli, tracking_cli):
        app.cli.add_command(group)
