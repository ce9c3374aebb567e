"""The replenishment pages, gathered for create_app: importing each module registers its routes
on the one `replenishment` blueprint (shared_views), so endpoint names stay
`replenishment.<view>` whichever module a route lives in."""

from portal.replenishment import overview_views, rules_views, suggestion_views
from portal.replenishment.shared_views import bp

__all__ = ["bp", "overview_views", "rules_views", "suggestion_views"]
