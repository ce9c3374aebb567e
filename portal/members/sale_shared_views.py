"""The `private_sales` blueprint that every private-sale page registers on (sale_hq_views for
HQ, sale_shop_views for the employee store's people), so endpoint names stay
`private_sales.<view>` whichever module a route lives in; sale_views gathers them for
create_app."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("private_sales", __name__)
