"""The setting of the API tests: an owner's workspace, a token for the owner and one for a
viewer, and a client that sends the owner's token (a request's own Authorization header wins).

Imported by test modules as fixtures; `tokens` is autouse there.
"""

from __future__ import annotations

import pytest

from app.workspaces.roles import Role
from tests.conftest import RequestPerAppContext
from tests.factories import api_token, member

SECRET = "pmd_api-owner-secret"
VIEWER_SECRET = "pmd_api-viewer-secret"


@pytest.fixture
def owner():
    return member(Role.OWNER)


@pytest.fixture
def workspace(owner):
    return owner.memberships[0].workspace


@pytest.fixture(autouse=True)
def tokens(owner, workspace):
    api_token(owner, workspace, SECRET)
    api_token(member(Role.VIEWER, workspace), workspace, VIEWER_SECRET)


@pytest.fixture
def api(app):
    client = RequestPerAppContext(app, app.response_class)
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {SECRET}"
    return client
