"""The ordering package's public surface: the write use cases that the pages, the API and other
packages (replenishment, the seed) call, with the few inputs and read models they need around
them. Import this module, not the ones below: they are where the code lives, split by purpose,
and may move.

- `checks`: line input, who buys from whom, the quote (every check that needs no lock)
- `placing`: placing an order, and the buyer org's own purchasing rules
- `lifecycle`: approve, reject, cancel, close, ship, receive; what an actor may do now
- `returns`: return requests, their decision and receipt
- `carts`: carts, order templates, reorder, submitting a cart
- `push`: HQ's stock push (push orders or quotas)
"""

from __future__ import annotations

from portal.ordering.carts import (
    add_to_cart,
    apply_template,
    cart_requests,
    clear_cart,
    delete_template,
    get_cart,
    reorder,
    save_template,
    set_cart_quantities,
    submit_cart,
)
from portal.ordering.checks import (
    MAX_LINE_QTY,
    MAX_LINES,
    LineRequest,
    buyer_link,
    parse_lines,
    preview,
    whole_number,
)
from portal.ordering.lifecycle import (
    approve_order,
    approve_orders,
    buyer_approve_order,
    cancel_order,
    close_order,
    permitted_actions,
    receive_shipment,
    reject_order,
    ship_order,
)
from portal.ordering.placing import find_purchasing_rule, place_order, set_purchasing_rule
from portal.ordering.push import PushRow, parse_push_rows, push_stock
from portal.ordering.returns import (
    decide_return,
    permitted_return_actions,
    receive_return,
    request_return,
)

__all__ = [
    "MAX_LINES",
    "MAX_LINE_QTY",
    "LineRequest",
    "PushRow",
    "add_to_cart",
    "apply_template",
    "approve_order",
    "approve_orders",
    "buyer_approve_order",
    "buyer_link",
    "cancel_order",
    "cart_requests",
    "clear_cart",
    "close_order",
    "decide_return",
    "delete_template",
    "find_purchasing_rule",
    "get_cart",
    "parse_lines",
    "parse_push_rows",
    "permitted_actions",
    "permitted_return_actions",
    "place_order",
    "preview",
    "push_stock",
    "receive_return",
    "receive_shipment",
    "reject_order",
    "reorder",
    "request_return",
    "save_template",
    "set_cart_quantities",
    "set_purchasing_rule",
    "ship_order",
    "submit_cart",
    "whole_number",
]
