"""Segments: members chosen by their tags, counted, used to issue coupons and to export.

TODO(helper E). Coupons (helper B) call these two functions; keep their names and signatures.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentSummary:
    id: int
    name: str
    members: int  # how many members it holds now


def list_segments(brand_id: int) -> list[SegmentSummary]:
    """The brand's segments, for a picker (coupon issuing)."""
    return []


def segment_member_ids(brand_id: int, segment_id: int) -> list[int]:
    """The ids of the members a segment of the brand holds now. Raises NotFound for another
    brand's segment."""
    return []
