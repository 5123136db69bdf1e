"""Signing in and out: hashed passwords, throttling, hardened cookies, CSRF."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.extensions import db
from tests.factories import PASSWORD, member
from tests.helpers import login


def test_password_is_stored_as_argon2id_hash():
    user = member()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_login_with_right_password_lands_in_workspace(client):
    user = member()
    response = login(client, user)
    assert response.headers["Location"] == "/"
    home = client.get("/")
    slug = user.memberships[0].workspace.slug
    assert home.headers["Location"] == f"/w/{slug}/"


def test_wrong_password_says_so_and_counts_down(client):
    user = member()
    response = client.post("/login", data={"email": user.email, "password": "wrong-password"})
    assert response.status_code == 401
    assert b"Email or password is not right" in response.data
    assert b"4 attempts left" in response.data


def test_unknown_email_gets_the_same_message_as_a_wrong_password(client):
    response = client.post("/login", data={"email": "nobody@example.com", "password": "whatever123"})
    assert response.status_code == 401
    assert b"Email or password is not right" in response.data


def test_repeated_failures_lock_the_account_even_with_the_right_password(client, app):
    user = member()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        client.post("/login", data={"email": user.email, "password": "wrong-password"})
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 429
    assert re.search(rb"locked for \d+ more minute", response.data)


def test_failed_and_successful_logins_are_audited(client):
    user = member()
    client.post("/login", data={"email": user.email, "password": "wrong-password"})
    login(client, user)
    actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.object_type == "user", AuditEvent.object_id == str(user.id))).all()
    assert "user.login_failed" in actions and "user.logged_in" in actions


def test_session_cookie_is_httponly_and_samesite(client):
    user = member()
    response = login(client, user)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_form_without_csrf_token_is_refused(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    user = member()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert b"csrf_failed" in response.data


def test_htmx_mutation_without_csrf_header_is_refused(client, app, monkeypatch):
    user = member()
    login(client, user)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    slug = user.memberships[0].workspace.slug
    response = client.post(f"/w/{slug}/members/invite", data={"email": "x@example.com"},
                           headers={"HX-Request": "true", "HX-Target": "members"})
    assert response.status_code == 400


def test_login_does_not_redirect_to_another_site(client):
    user = member()
    response = client.post("/login?next=https://evil.example/",
                           data={"email": user.email, "password": PASSWORD})
    assert response.headers["Location"] == "/"


def test_logout_requires_post_and_ends_the_session(client):
    user = member()
    login(client, user)
    assert client.get("/logout").status_code == 405
    client.post("/logout")
    assert client.get("/account").status_code == 302
