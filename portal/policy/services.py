"""Writing and publishing channel policy, and what orgs do with what reaches their inbox.

This module is the policy domain's public write surface: other packages, the views, the API and
the seed import from `portal.policy.services`, never from the modules that hold the code:

- `drafting`: what a draft is written from, its checks, and drafts (create, edit, revise);
- `rule_text`: rules and rebates as people type them, and back again for the editor;
- `publishing`: publishing, reminders, reading and acknowledging an inbox item;
- `delivery`: versions moving through their states and the fan-out steps the jobs run.

A draft is edited freely; publishing freezes it, replaces the policy's previous version from the
new version's start, and fans it out to every targeted org through a job on the `push` queue.
Editing a published version starts a new draft: old versions stay readable, never change.
"""

from __future__ import annotations

from portal.policy.delivery import advance_states
from portal.policy.drafting import (
    CODE_RE,
    REBATE_PERIODS,
    SECTION_SCOPES,
    PolicyInput,
    RuleInput,
    add_rules,
    create_policy,
    ensure_brand_hq,
    revise_policy,
    update_draft,
)
from portal.policy.floors import OFFICIAL_FIELD, check_official_floor
from portal.policy.publishing import (
    PUBLISH_LOCK_SPACE,
    acknowledge,
    mark_read,
    publish_policy,
    remind,
)
from portal.policy.rule_text import (
    format_rebate_lines,
    format_rule_lines,
    parse_percent,
    parse_rebate_lines,
    parse_rule_lines,
)

__all__ = [
    "add_rules",
    "CODE_RE",
    "PUBLISH_LOCK_SPACE",
    "REBATE_PERIODS",
    "OFFICIAL_FIELD",
    "SECTION_SCOPES",
    "PolicyInput",
    "RuleInput",
    "acknowledge",
    "advance_states",
    "check_official_floor",
    "create_policy",
    "ensure_brand_hq",
    "format_rebate_lines",
    "format_rule_lines",
    "mark_read",
    "parse_percent",
    "parse_rebate_lines",
    "parse_rule_lines",
    "publish_policy",
    "remind",
    "revise_policy",
    "update_draft",
]
