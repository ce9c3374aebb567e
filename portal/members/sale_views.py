"""Private sales' pages, gathered for create_app: importing each module registers its routes on
the one `private_sales` blueprint (sale_shared_views), so endpoint names stay
`private_sales.<view>` whichever module a route lives in.

- sale_hq_views: HQ (`MEMBERS_MANAGE`, the brand's own HQ only), `/shop/<brand>/hq/private-sales`:
  the sales, a draft's settings and items, publishing and ending.
- sale_shop_views: the employee store's people, `/shop/<brand>/employee/sales/`: the sales open
  or coming for their audience, a sale's page with its countdown, and buying in it.
"""

from portal.members import sale_hq_views, sale_shop_views
from portal.members.sale_shared_views import bp

__all__ = ["bp", "sale_hq_views", "sale_shop_views"]
