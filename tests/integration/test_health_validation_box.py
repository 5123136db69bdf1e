"""The live validation box: findings for a pasted SPF, DKIM or DMARC record as one types,
on its own page and in the domain wizard's records step, with and without JavaScript."""

from __future__ import annotations

import base64
import functools
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.workspaces.roles import Role
from tests.acme_workspace import owner, workspace  # noqa: F401  (fixtures)
from tests.factories import DomainFactory, member
from tests.helpers import login
from tests.integration.test_domain_views import with_key

FINDINGS = {"HX-Request": "true", "HX-Target": "record-findings",
            "HX-Trigger": "record-check"}


@functools.cache
def rsa_1024() -> str:
    """A public key receivers still accept but warn about (RFC 8301: 2048 bits advised)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")




def check(client, record_type, host, value, headers=FINDINGS):
    return client.post("/w/acme/health/validate", headers=headers,
                       data={"type": record_type, "host": host, "value": value})


def codes(html: str) -> list[str]:
    return re.findall(r'data-code="([A-Z_0-9]+)"', html)


@pytest.mark.parametrize(("record_type", "host", "value", "expected"), [
    ("spf", "example.com", "v=spf1 include:_spf.example.net ~all", []),
    ("spf", "example.com", "v=spf1 mx +all", ["SPF_PLUS_ALL"]),
    ("SPF", "example.com", "v=spf1 ptr ?all", ["SPF_NEUTRAL_ALL", "SPF_PTR"]),
    ("spf", "example.com", "v=spf1 mx", ["SPF_NO_ALL"]),
    ("spf", "example.com", "v=spf1 ip4:300.1.1.1 -all", ["SPF_SYNTAX"]),
    ("spf", "example.com", '"v=spf1 mx " "-all"', []),
    ("dkim", "pm1._domainkey.example.com", "v=DKIM1; k=rsa; p={rsa_1024}", ["DKIM_KEY_WEAK"]),
    ("dkim", "pm1._domainkey.example.com", "v=DKIM1; p=", ["DKIM_REVOKED"]),
    ("dkim", "pm1._domainkey.example.com", "v=DKIM1; k=rsa; p=bm90IGEga2V5", ["DKIM_KEY_INVALID"]),
    ("dkim", "pm1._domainkey.example.com", "k=rsa; v=DKIM1; p={rsa_1024}", ["DKIM_SYNTAX"]),
    ("dmarc", "_dmarc.example.com", "v=DMARC1; p=reject; rua=mailto:dmarc@example.com", []),
    ("dmarc", "example.com", "v=DMARC1; p=none", ["DMARC_POLICY_NONE"]),
    ("dmarc", "_dmarc.example.com", "v=DMARC1; p=reject; pct=50", ["DMARC_PCT_PARTIAL"]),
    ("dmarc", "_dmarc.example.com", "p=reject; v=DMARC1", ["DMARC_SYNTAX"]),
    ("dmarc", "_dmarc.example.com", "p=reject", ["DMARC_MISSING"]),
    ("dmarc", "_dmarc.example.com", "v=DMARC1; p=bogus", ["DMARC_SYNTAX"]),
])
def test_findings_appear_for_good_and_bad_records(client, owner, record_type, host, value,
                                                  expected):
    response = check(client, record_type, host, value.format(rsa_1024=rsa_1024()))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="record-findings"') and "<html" not in html
    assert sorted(codes(html)) == sorted(expected)
    if not expected:
        assert "No problems in this" in html
    assert "checked on the next sweep" in html


def test_a_fix_comes_with_the_corrected_record_to_copy(client, owner):
    html = check(client, "spf", "example.com", "v=spf1 mx +all").get_data(as_text=True)
    assert 'data-copy="v=spf1 mx ~all"' in html


def test_dns_dependent_dmarc_checks_wait_for_the_sweep(client, owner):
    html = check(client, "dmarc", "_dmarc.example.com",
                 "v=DMARC1; p=reject; rua=mailto:reports@elsewhere.example").get_data(as_text=True)
    assert codes(html) == []  # the external address is not judged without DNS
    assert "Authorisation of external report addresses" in html


@pytest.mark.parametrize(("record_type", "host", "value", "message"), [
    ("txt", "example.com", "v=spf1 -all", "not “txt”"),
    ("", "example.com", "v=spf1 -all", "Choose the type of record to check"),
    ("spf", "example.com", "v=spf1 " + "a" * 5000, "The value is 5,007 bytes"),
    ("spf", "", "v=spf1 -all", "Enter the host the record is published at"),
    ("spf", "com", "v=spf1 -all", "com is a public suffix"),
    ("spf", "http://example.com/", "v=spf1 -all", "The host is not a domain name"),
    ("dkim", "example.com", "v=DKIM1; p=", "A DKIM key record lives at"),
    ("dkim", "bad selector._domainkey.example.com", "p=", "is not valid"),
])
def test_input_it_cannot_check_gets_a_specific_message(client, owner, record_type, host,
                                                       value, message):
    response = check(client, record_type, host, value)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and 'role="alert"' in html
    assert codes(html) == []


def test_an_empty_box_asks_for_a_value(client, owner):
    response = check(client, "dmarc", "", "   ")
    assert response.status_code == 200
    assert "Paste the DMARC record's value to check it." in response.get_data(as_text=True)


def test_without_javascript_the_form_posts_and_the_page_comes_back(client, owner):
    response = check(client, "spf", "example.com", "v=spf1 +all", headers={})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in html
    assert codes(html) == ["SPF_PLUS_ALL"]
    # What was typed is still there.
    assert '<option value="spf" selected>' in html
    assert 'name="host" value="example.com"' in html and ">v=spf1 +all</textarea>" in html
    bad = check(client, "spf", "example.com", "x" * 5000, headers={})
    assert bad.status_code == 422 and ">" + "x" * 5000 + "</textarea>" in bad.get_data(
        as_text=True)


def test_the_box_asks_as_the_user_types(client, owner):
    html = client.get("/w/acme/health/validate").get_data(as_text=True)
    form = re.search(r'<form id="record-check"[^>]*>', html, re.S).group(0)
    assert 'hx-post="/w/acme/health/validate"' in form
    assert 'hx-target="#record-findings"' in form
    assert "keyup changed delay:300ms from:find textarea" in form
    assert 'name="csrf_token"' in html


def test_viewers_may_use_the_box(client, workspace):
    login(client, member(Role.VIEWER, workspace))
    assert codes(check(client, "spf", "example.com", "v=spf1 +all").get_data(
        as_text=True)) == ["SPF_PLUS_ALL"]


def test_the_wizard_records_step_embeds_the_box(client, workspace, owner):
    domain = with_key(DomainFactory(workspace=workspace, fqdn="example.com", setup_step=3))
    html = client.get(f"/w/acme/domains/{domain.id}/records").get_data(as_text=True)
    assert '<form id="record-check"' in html and 'hx-post="/w/acme/health/validate"' in html
    assert 'id="record-check-host" name="host" value="example.com"' in html
    assert f'href="/w/acme/health/{domain.id}"' in html  # the domain's health page
