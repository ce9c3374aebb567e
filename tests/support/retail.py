"""Consumer prices for the storefront tests: a policy addressed to everyone of a test brand
(tests/support/policy.py) with official, outlet and employee prices typed as HQ types them."""

from __future__ import annotations

from portal.core.db import utcnow
from portal.policy import services
from portal.policy.models import PolicyVersion, Section
from tests.support.policy import Net


def retail_rules(
    *, official: str = "", outlet: str = "", employee: str = "", floor: str = "", price: str = ""
) -> list[services.RuleInput]:
    return [
        *services.parse_rule_lines(Section.PRICE, price, label="prices"),
        *services.parse_rule_lines(Section.FLOOR, floor, label="floors"),
        *services.parse_rule_lines(Section.OFFICIAL, official, label="official_prices"),
        *services.parse_rule_lines(Section.OUTLET, outlet, label="outlet_prices"),
        *services.parse_rule_lines(Section.EMPLOYEE, employee, label="employee_prices"),
    ]


def write_retail(net: Net, code: str = "RETAIL", *, kind: str = "all", **sections) -> PolicyVersion:
    values = ["A"] if kind == "level" else []
    data = services.PolicyInput(
        code=code,
        name=f"Retail {code}",
        audience_kind=kind,
        audience_values=values,
        effective_from=utcnow(),
        rules=retail_rules(**sections),
    )
    return services.create_policy(net.hq, net.brand.id, data)


def publish_retail(net: Net, code: str = "RETAIL", **kwargs) -> PolicyVersion:
    return services.publish_policy(net.hq, write_retail(net, code, **kwargs))
