"""The score page and the README's "Health score" section: the documented formula, drawn
from the numbers the score is computed with."""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType

import pytest

from app.core.findings import FINDING_KINDS
from app.core.health import ERROR_CAP, WEIGHTS
from app.monitoring import score_rules
from app.workspaces.roles import Role
from tests.factories import WorkspaceFactory, member
from tests.helpers import login

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def score_page(client):
    login(client, member(Role.VIEWER, WorkspaceFactory(slug="acme")))

    def get() -> str:
        response = client.get("/w/acme/health/score")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    return get


def test_every_code_is_listed_with_its_group_severity_and_points(score_page):
    html = score_page()
    rows = re.findall(r'<tr id="code-(\w+)"><td><code>\w+</code></td><td>([^<]+)</td>'
                      r'<td><span class="badge [\w-]+">(\w+)</span></td>'
                      r'<td class="num">(\d+)</td>', html)
    assert [code for code, *_ in rows] == list(FINDING_KINDS)
    for code, group, severity, points in rows:
        kind = FINDING_KINDS[code]
        assert group == score_rules.GROUP_NAMES[kind.group]
        assert severity == kind.severity
        assert int(points) == WEIGHTS[kind.group][kind.severity]


def test_the_rules_state_the_cap_and_the_bands(score_page):
    html = score_page()
    assert f"Any error caps the score at {ERROR_CAP}" in html
    assert "90–100 healthy, 70–89 warning, 0–69 critical" in html


def test_the_page_follows_the_weights_it_is_computed_with(score_page, monkeypatch):
    changed = {group: MappingProxyType({**weights, "error": 33}) for group, weights
               in WEIGHTS.items()}
    monkeypatch.setattr(score_rules, "WEIGHTS", MappingProxyType(changed))
    html = score_page()
    assert '<tr id="code-SPF_MISSING"><td><code>SPF_MISSING</code></td><td>SPF</td>' in html
    assert re.search(r'id="code-SPF_MISSING">.*?<td class="num">33</td>', html)
    assert "an error costs 33 to 33" in html


def test_the_readme_section_is_the_generated_one():
    text = README.read_text(encoding="utf-8")
    start = text.index(score_rules.README_START)
    end = text.index(score_rules.README_END) + len(score_rules.README_END) + 1
    assert text[start:end] == score_rules.readme_section(), (
        "README.md's Health score section is out of date: replace it with the output of "
        "`python -m app.monitoring.score_rules`")
