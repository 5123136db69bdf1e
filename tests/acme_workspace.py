"""The setting of the page tests: a workspace "acme" with its owner signed in.

Imported by test modules as fixtures; they replace, for those modules, the shared `workspace`
and `owner` fixtures.
"""

from __future__ import annotations

import pytest

from app.workspaces.models import Workspace
from app.workspaces.roles import Role
from tests.factories import WorkspaceFactory, member
from tests.helpers import login


@pytest.fixture
def workspace() -> Workspace:
    return WorkspaceFactory(name="Acme Mail", slug="acme")


@pytest.fixture
def owner(client, workspace):
    user = member(Role.OWNER, workspace)
    login(client, user)
    return user
