"""Values shown through `_()` at run time (kinds, statuses, roles), so extraction sees them."""

from flask_babel import lazy_gettext as _l

TERMS = (
    _l("brand"),
    _l("distributor"),
    _l("store"),
    _l("active"),
    _l("suspended"),
    _l("queued"),
    _l("started"),
    _l("finished"),
    _l("failed"),
    _l("HQ admin"),
    _l("HQ merchandiser"),
    _l("Distributor admin"),
    _l("Distributor buyer"),
    _l("Store owner"),
    _l("Store staff"),
    # policy versions, audiences, rule sections and scopes, rebate periods
    _l("draft"),
    _l("scheduled"),
    _l("expired"),
    _l("all"),
    _l("level"),
    _l("region"),
    _l("orgs"),
    _l("price"),
    _l("order"),
    _l("floor"),
    _l("exclude"),
    _l("sku"),
    _l("product"),
    _l("category"),
    _l("month"),
    _l("quarter"),
    _l("year"),
)
