"""The health score's documented formula, as data for the score page and the README.

Everything here is read from app.core.health (WEIGHTS, BANDS, ERROR_CAP) and
app.core.findings (FINDING_KINDS), so the page, the README section and the score itself can
never disagree. `python -m app.monitoring.score_rules` prints the README section; a test fails
when README.md holds another one.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.findings import (
    DELIVERY,
    DKIM,
    DMARC,
    DNS,
    DNSBL,
    FINDING_KINDS,
    SEVERITIES,
    SPF,
    FindingKind,
)
from app.core.health import BANDS, ERROR_CAP, OTHER, PERFECT, WEIGHTS, band

GROUP_NAMES = {SPF: "SPF", DKIM: "DKIM", DMARC: "DMARC", DELIVERY: "Delivery", DNS: "DNS",
               DNSBL: "Blacklists", OTHER: "Other"}
GROUP_COVERS = {SPF: "the SPF record and its includes", DKIM: "DKIM key records",
                DMARC: "the DMARC policy record", DELIVERY: "MX, return path, tracking, CNAMEs",
                DNS: "nameservers answering: lame, disagreeing, timeouts, SERVFAIL",
                DNSBL: "the domain or a sending IP on a blacklist",
                OTHER: "a code from a newer version, not known to this one"}
README_START = "<!-- health-score:start (generated: python -m app.monitoring.score_rules) -->"
README_END = "<!-- health-score:end -->"


@dataclass(frozen=True)
class Band:
    name: str
    lowest: int
    highest: int


def bands() -> list[Band]:
    """BANDS as score ranges, best first."""
    ranges, highest = [], PERFECT
    for name, lowest in BANDS:
        ranges.append(Band(name, lowest, highest))
        highest = lowest - 1
    return ranges


def points(kind: FindingKind) -> int:
    """What a finding of this kind costs at its usual severity."""
    return WEIGHTS[kind.group][kind.severity]


def steps() -> list[str]:
    """The formula in plain words, one step a line (the page and the README list these)."""
    band_words = ", ".join(f"{band.lowest}–{band.highest} {band.name}" for band in bands())
    error_costs = sorted({WEIGHTS[group]["error"] for group in WEIGHTS})
    return [
        f"Start at {PERFECT}.",
        "Each open finding costs points by the group of its code and its severity (table "
        f"below): an error costs {error_costs[0]} to {error_costs[-1]}; info findings cost "
        "nothing.",
        "Findings are charged worst first; the score never goes below 0, and findings charged "
        "after it reaches 0 cost 0 points.",
        f"Any error caps the score at {ERROR_CAP}: the points needed to reach {ERROR_CAP} are "
        f"charged to the worst error, so a domain with an error is always {band(ERROR_CAP)}.",
        f"Bands: {band_words}.",
        f"Every point lost is attributed to a finding: the deductions add up to exactly "
        f"{PERFECT} − score, and a domain's page lists them.",
    ]


@dataclass(frozen=True)
class GroupWeights:
    name: str
    covers: str
    points: dict[str, int]  # by severity


def weight_rows() -> list[GroupWeights]:
    """Every group's points per severity, in WEIGHTS' order."""
    return [GroupWeights(GROUP_NAMES.get(group, group), GROUP_COVERS.get(group, ""),
                         dict(weights)) for group, weights in WEIGHTS.items()]


def kind_rows() -> list[tuple[FindingKind, int]]:
    return [(kind, points(kind)) for kind in FINDING_KINDS.values()]


def readme_section(page_path: str = "/w/<workspace>/health/score") -> str:
    """The README's "Health score" section, between its generated-content markers."""
    lines = [README_START, "## Health score", "",
             f"Every domain's DNS health is a score from 0 to {PERFECT}, worked out from its open "
             "findings. The portal shows these same rules, read from the same numbers "
             f"(`app/core/health.py`), at **DNS health → How the score works** (`{page_path}`); "
             "each domain's health page shows the points each of its findings costs.", ""]
    lines += [f"{number}. {step}" for number, step in enumerate(steps(), start=1)]
    lines += ["", "Points per finding:", "",
              "| Group | Covers | " + " | ".join(SEVERITIES) + " |",
              "|---|---|" + "---:|" * len(SEVERITIES)]
    lines += [f"| {row.name} | {row.covers} | "
              + " | ".join(str(row.points[severity]) for severity in SEVERITIES) + " |"
              for row in weight_rows()]
    lines += ["", "Every finding code, with the severity it usually has and what that costs:", "",
              "| Code | Group | Usual severity | Points | Meaning |", "|---|---|---|---:|---|"]
    lines += [f"| `{kind.code}` | {GROUP_NAMES[kind.group]} | {kind.severity} | {cost} | "
              f"{kind.title} |" for kind, cost in kind_rows()]
    lines += [README_END]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(readme_section(), end="")
