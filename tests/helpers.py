"""Small helpers shared by integration tests."""

from __future__ import annotations

from tests.factories import PASSWORD


def login(client, user, password: str = PASSWORD):
    response = client.post("/login", data={"email": user.email, "password": password})
    assert response.status_code == 302, response.data[:500]
    return response
