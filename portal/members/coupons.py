"""Coupons: HQ's templates, giving them out (issued to members or a segment, claimed on a page or
through a shared link), redeeming them at checkout, and what happens to them when an order is
called off or refunded.

Giving out. A member holds at most `per_member_limit` coupons of a template (used ones count);
everyone together at most `total_limit`. Issuing is idempotent per (template, member): an issue
gives a member one coupon of the template, never a second (a repeated issue, a retried job, a
second submit of the form pass over them), and none to a member who already holds the
per-member limit through claims. Claims give one coupon per claim, up to the limit. Both raise
the template's `given_count` by a conditional UPDATE (or under its row lock), so the total limit
holds whatever runs at once. Big segments are issued by a job, in batches, each committed whole.

Redeeming (`after_place`, a checkout step). The member's own coupons, under the member's row lock
(`membership.lock_member`, as every spend): each must be unused, within its validity, valid in
the order's storefront and apply to some of its lines; its minimum spend counts the lines it
applies to, at their price; an exclusive coupon goes alone, and one order takes one coupon of a
template. Amount coupons take off first, then percentage ones, each from what the lines still
cost; a coupon never takes more than its lines are worth. Its discount is spread over its lines
in proportion, the rounding remainder to the largest line (`ConsumerOrderLine.discount_cents`).
Any refusal names the coupon (`coupon_ids.<i>`) and nothing is spent.

The coupon rule on calling off and refunds:
- an order cancelled or expired before payment gives its coupons back (`order_moved`);
- a full refund (an order called off after payment) gives its coupons back too (`on_refund`);
- a partial refund (some lines returned) keeps them used: what comes back is the returned units'
  price after their share of the discount (the storefront refunds units net of
  `discount_cents`), so the discount stays with the units kept.
A coupon given back is the member's again, unused; one whose validity ended meanwhile comes back
expired and is never usable again. Giving back twice finds nothing left to give (a repeated
refund reference does nothing).

The door: pages, the API, plugs.py, refunds.py, the seed and the tests call `coupons.<name>`;
the code lives in rooms behind it, by what it does, and may move between them:
- `coupon_templates`: what HQ types and its checks, stopping, reading, the words for a template,
  per-template figures;
- `coupon_issuing`: issuing to typed members and to segments, what every giving shares;
- `coupon_claims`: claiming, what a consumer could claim, the coupons a member holds;
- `coupon_checkout`: what checkout offers and previews, the checkout step, giving coupons back.
The segment job stays here: queued runs know it by its registered name,
`portal.members.coupons.issue_coupons_to_segment`.
"""

from __future__ import annotations

from portal.core import jobs
from portal.core.access import Actor
from portal.members.coupon_checkout import (
    MAX_PER_ORDER,
    CouponPreview,
    UsableCoupon,
    after_place,
    on_refund,
    order_moved,
    preview,
    usable,
)
from portal.members.coupon_claims import (
    CouponRefused,
    HeldCoupon,
    claim,
    claim_refusal,
    claimable_templates,
    describe,
    find_claimable,
    member_coupons,
    member_of_shop,
)
from portal.members.coupon_issuing import (
    MAX_LIST,
    find_members,
    issue,
    list_issues,
    open_segment_issue,
    run_segment_issue,
    segment_issue_given_up,
)
from portal.members.coupon_models import CouponIssue, CouponTemplate
from portal.members.coupon_templates import (
    DISTRIBUTION_NAMES,
    KIND_NAMES,
    MAX_CODES,
    MAX_DESCRIPTION,
    MAX_NAME,
    MAX_PER_MEMBER,
    MAX_TOTAL,
    MAX_VALID_DAYS,
    MAX_YUAN,
    PAID_STATUSES,
    TIER_NAMES,
    TemplateInput,
    TemplateStats,
    create_template,
    find_template,
    get_template,
    label,
    last_moment,
    list_templates,
    stop_template,
    template_stats,
    where_it_counts,
)

__all__ = [
    "DISTRIBUTION_NAMES",
    "ISSUE_BATCH",
    "KIND_NAMES",
    "MAX_CODES",
    "MAX_DESCRIPTION",
    "MAX_LIST",
    "MAX_NAME",
    "MAX_PER_MEMBER",
    "MAX_PER_ORDER",
    "MAX_TOTAL",
    "MAX_VALID_DAYS",
    "MAX_YUAN",
    "PAID_STATUSES",
    "TIER_NAMES",
    "CouponPreview",
    "CouponRefused",
    "HeldCoupon",
    "TemplateInput",
    "TemplateStats",
    "UsableCoupon",
    "after_place",
    "claim",
    "claim_refusal",
    "claimable_templates",
    "create_template",
    "describe",
    "find_claimable",
    "find_members",
    "find_template",
    "get_template",
    "issue",
    "issue_coupons_to_segment",
    "issue_to_segment",
    "label",
    "last_moment",
    "list_issues",
    "list_templates",
    "member_coupons",
    "member_of_shop",
    "on_refund",
    "order_moved",
    "preview",
    "stop_template",
    "template_stats",
    "usable",
    "where_it_counts",
]

ISSUE_BATCH = 500  # a segment's members given their coupons in one committed batch


def issue_to_segment(
    actor: Actor, template: CouponTemplate, segment_id: int, *, token: str | None = None
) -> CouponIssue:
    """Give a coupon of the template to every member of one of the brand's segments, by a job
    (`issue_coupons_to_segment`) in batches, after this transaction commits. The same form
    `token` again is the same issue. Raises ValidationFailed naming `segment_id` for a segment
    the brand does not have."""
    made, new = open_segment_issue(actor, template, segment_id, token=token)
    if new:
        jobs.enqueue(
            issue_coupons_to_segment,
            made.id,
            brand_id=template.brand_id,
            user_id=actor.user_id,
            title=f"Coupons {template.name} to {made.audience}"[:200],
        )
    return made


@jobs.job(
    queue=jobs.QUEUE_PUSH, title="Issue coupons to a segment", on_give_up=segment_issue_given_up
)
def issue_coupons_to_segment(issue_id: int) -> dict[str, int]:
    """Works through the segment's members in id order, ISSUE_BATCH at a time, each batch
    committed whole with how far it got; a retry (or a second run) goes on from there, and the
    per-member rule passes over anyone it reached before."""
    return run_segment_issue(issue_id, batch_size=ISSUE_BATCH)
