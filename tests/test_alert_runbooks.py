"""Every shipped alert links to its section of docs/runbook.md: a `runbook_url` whose anchor is one of
the runbook's headings, as GitHub renders them."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "trunkguard-rules.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
URL = "https://github.com/trunkguard/trunkguard/blob/main/docs/runbook.md#"  # as deploy/trunkguard.service


def github_anchors(markdown: str) -> set[str]:
    """The ids GitHub gives a Markdown file's headings: lower case, punctuation dropped, spaces as
    hyphens, and -1, -2 ... on repeats. Lines inside fenced code blocks are not headings."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        heading = re.match(r"#{1,6} (.+?)#*\s*$", line)
        if fenced or heading is None:
            continue
        text = re.sub(r"[`*]", "", heading.group(1).strip())  # inline code and emphasis marks are not in the id
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def alerts() -> list[dict[str, object]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_the_anchor_rules_follow_github() -> None:
    text = "# Runbook\n## Edge case 3: the secondary's TLS certificate expired (or is about to)\n```\n# not one\n```\n" \
           "### TrunkguardNoLeader\n## Rehearse\n## Rehearse\n"
    assert github_anchors(text) == {"runbook", "edge-case-3-the-secondarys-tls-certificate-expired-or-is-about-to",
                                    "trunkguardnoleader", "rehearse", "rehearse-1"}


def test_every_alert_has_a_runbook_url_into_a_heading_of_the_runbook() -> None:
    anchors = github_anchors(RUNBOOK.read_text())
    rules = alerts()
    assert len(rules) >= 13
    missing = []
    for rule in rules:
        annotations = rule.get("annotations")
        url = annotations.get("runbook_url", "") if isinstance(annotations, dict) else ""
        if not (url.startswith(URL) and url.removeprefix(URL) in anchors):
            missing.append((rule["alert"], url))
    assert not missing, f"alerts without a runbook_url into docs/runbook.md's headings: {missing}"


def test_the_new_alerts_are_shipped_and_each_has_its_own_section() -> None:
    names = {str(rule["alert"]) for rule in alerts()}
    assert {"TrunkguardSecondaryCarrierDown", "TrunkguardNotificationsFailing", "TrunkguardProbingStalled",
            "TrunkguardNoLeader"} <= names
    anchors = github_anchors(RUNBOOK.read_text())
    for rule in alerts():
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        assert annotations["runbook_url"] == URL + str(rule["alert"]).lower(), rule["alert"]
    assert {n.lower() for n in names} <= anchors
