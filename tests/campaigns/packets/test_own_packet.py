"""A guide cannot claim from their own red packet with their own member account (it would count
for their own coupon-claim task): the account is theirs by the guides' own-purchase rule, their
sign-in e-mail."""

from __future__ import annotations

import pytest

from portal.campaigns import red_packets
from portal.campaigns.models import RedPacketClaim
from portal.extensions import db
from tests.campaigns.packets.conftest import count


def test_a_guide_cannot_claim_from_their_own_packet_but_a_friend_can(ps):
    packet = ps.send(ps.plan(), "LJ")
    guide_self = ps.consumer()
    guide_self.email = ps.gs.users["LJ"].email  # the guide's own account in the shop
    db.session.flush()
    with pytest.raises(red_packets.PacketRefused) as error:
        red_packets.claim_packet(guide_self, ps.brand, packet.code)
    assert "your own red packet" in error.value.message
    assert count(RedPacketClaim, RedPacketClaim.packet_id == packet.id) == 0
    friend = ps.consumer()
    red_packets.claim_packet(friend, ps.brand, packet.code)
    assert count(RedPacketClaim, RedPacketClaim.packet_id == packet.id) == 1
