"""Workspace roles: one ordered ladder that views, API and CLI all consult."""

from __future__ import annotations

import pytest

from app.workspaces.roles import Role


def test_roles_rank_owner_over_admin_over_member_over_viewer():
    assert [r.rank for r in (Role.VIEWER, Role.MEMBER, Role.ADMIN, Role.OWNER)] == [0, 1, 2, 3]
    assert Role.OWNER.at_least(Role.ADMIN) and Role.ADMIN.at_least(Role.ADMIN)
    assert not Role.MEMBER.at_least(Role.ADMIN)


@pytest.mark.parametrize("role,expected", [(Role.OWNER, True), (Role.ADMIN, True),
                                           (Role.MEMBER, True), (Role.VIEWER, False)])
def test_everyone_but_viewers_can_write(role, expected):
    assert role.can_write is expected


@pytest.mark.parametrize("role,expected", [(Role.OWNER, True), (Role.ADMIN, True),
                                           (Role.MEMBER, False), (Role.VIEWER, False)])
def test_only_owners_and_admins_administer(role, expected):
    assert role.can_administer is expected


def test_an_owner_may_grant_every_role():
    assert all(Role.OWNER.may_grant(role) for role in Role)


def test_an_admin_may_grant_up_to_admin_but_never_owner():
    assert Role.ADMIN.may_grant(Role.ADMIN)
    assert Role.ADMIN.may_grant(Role.MEMBER)
    assert Role.ADMIN.may_grant(Role.VIEWER)
    assert not Role.ADMIN.may_grant(Role.OWNER)


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_may_grant_nothing(role):
    assert not any(role.may_grant(other) for other in Role)


@pytest.mark.parametrize("raw,expected", [("owner", Role.OWNER), (" Admin ", Role.ADMIN),
                                          ("MEMBER", Role.MEMBER), ("viewer", Role.VIEWER)])
def test_parse_accepts_any_case_and_surrounding_space(raw, expected):
    assert Role.parse(raw) is expected


@pytest.mark.parametrize("raw", ["", "boss", "own er"])
def test_parse_refuses_an_unknown_role_and_lists_the_allowed_ones(raw):
    with pytest.raises(ValueError, match="use one of owner, admin, member, viewer"):
        Role.parse(raw)


def test_a_role_is_its_string_value():
    assert Role.ADMIN == "admin" and Role("viewer") is Role.VIEWER
