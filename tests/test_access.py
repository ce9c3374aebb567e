"""Access is declared on every route and enforced the same way everywhere: another org's object
is a 404 for every role; an action one's role lacks is a 403."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.auth.services import create_api_key
from portal.catalog.models import CatalogImport, Product
from portal.core.access import (
    ROLE_PERMISSIONS,
    Actor,
    OrgKind,
    Permission,
    Role,
    api_key_scopes,
    route_access,
)
from portal.core.errors import ValidationFailed
from portal.core.jobs import JobRun
from portal.extensions import db
from portal.guides.models import (
    CommissionStatement,
    Guide,
    GuideStatus,
    GuideVisit,
    StatementParty,
    StatementStatus,
)
from portal.inventory.models import Location, StockUpload, UploadStatus  # stock uploads
from portal.network.models import ChannelLink, Membership, Organization, User
from portal.policy.models import Notification, PolicyVersion
from tests.support.services import actor_for, org

PERSONAS = {
    "hq_admin": "hq@demo.test",
    "hq_merchandiser": "merch@demo.test",
    "distributor_admin": "dist1@demo.test",
    "distributor_buyer": "buyer1@demo.test",
    "store_owner": "store1@demo.test",
    "store_staff": "staff1@demo.test",
    "other_brand_hq": "hq2@demo.test",
}

# Routes acting on one object: asked for another org's object, every role gets 404.
OBJECT_ROUTES = {
    "network.org_detail": ("GET", "/orgs/{org}"),
    "network.org_edit": ("GET", "/orgs/{org}/edit"),
    "network.link_edit": ("GET", "/orgs/{org}/terms?brand_id={brand}"),
    "network.org_move": ("POST", "/orgs/{org}/move?brand_id={brand}"),
    "network.org_suspend": ("POST", "/orgs/{org}/suspend"),
    "network.org_reactivate": ("POST", "/orgs/{org}/reactivate"),
    "network.org_invite": ("POST", "/orgs/{org}/invite"),
    "network.member_role": ("POST", "/members/{membership}/role"),
    "network.member_remove": ("POST", "/members/{membership}/remove"),
    "core.job_detail": ("GET", "/jobs/{job}"),
    "core.job_status": ("GET", "/jobs/{job}/status"),
    "core.job_retry": ("POST", "/jobs/{job}/retry"),
    "auth.revoke_api_key": ("POST", "/settings/api-keys/{key}/revoke"),
    "api_network.get_org": ("GET", "/api/v1/orgs/{org}"),
    "api_jobs.get": ("GET", "/api/v1/jobs/{job}"),
    "catalog.product_detail": ("GET", "/catalog/products/{product}"),
    "catalog.product_edit": ("GET", "/catalog/products/{product}/edit"),
    "catalog.product_add_variants": ("POST", "/catalog/products/{product}/variants"),
    "catalog.product_update_skus": ("POST", "/catalog/products/{product}/skus"),
    "catalog.product_image_upload": ("POST", "/catalog/products/{product}/image"),
    "catalog.product_image": ("GET", "/catalog/products/{product}/image"),
    "catalog.product_retire": ("POST", "/catalog/products/{product}/retire"),
    "catalog.product_reactivate": ("POST", "/catalog/products/{product}/reactivate"),
    "catalog.import_detail": ("GET", "/catalog/imports/{import}"),
    "catalog.import_errors": ("GET", "/catalog/imports/{import}/errors.xlsx"),
    "catalog.import_confirm": ("POST", "/catalog/imports/{import}/confirm"),
    "policy.policy_detail": ("GET", "/policies/{version}"),
    "policy.policy_edit": ("GET", "/policies/{version}/edit"),
    "policy.policy_revise": ("POST", "/policies/{version}/revise"),
    "policy.policy_publish": ("POST", "/policies/{version}/publish"),
    "policy.policy_reach": ("GET", "/policies/{version}/reach"),
    "policy.policy_remind": ("POST", "/policies/{version}/remind"),
    "policy.inbox_item": ("GET", "/inbox/{notification}"),
    "policy.inbox_ack": ("POST", "/inbox/{notification}/ack"),
    "api_policy.get_policy": ("GET", "/api/v1/policies/{version}"),
    "api_policy.update_policy": ("PUT", "/api/v1/policies/{version}"),
    "api_policy.publish_policy": ("POST", "/api/v1/policies/{version}/publish"),
    "api_policy.ack_notification": ("POST", "/api/v1/notifications/{notification}/ack"),
    "inventory.location_detail": ("GET", "/stock/{location}"),
    "inventory.location_moves": ("GET", "/stock/{location}/moves"),
    "inventory.location_adjust": ("POST", "/stock/{location}/adjust"),
    "inventory.location_count": ("POST", "/stock/{location}/count"),
    "inventory.location_damage": ("POST", "/stock/{location}/damage"),
    "api_inventory.list_stock": ("GET", "/api/v1/stock?location={location}"),
    # -- stock uploads (tests/inventory/test_upload.py): {stock_upload} is made in _foreign --
    "inventory.upload_new": ("GET", "/stock/{location}/uploads/new"),
    "inventory.upload_detail": ("GET", "/stock/uploads/{stock_upload}"),
    "inventory.upload_errors": ("GET", "/stock/uploads/{stock_upload}/errors.xlsx"),
    "inventory.upload_confirm": ("POST", "/stock/uploads/{stock_upload}/confirm"),
    "api_inventory.get_stock_upload": ("GET", "/api/v1/stock/uploads/{stock_upload}"),
    "api_inventory.confirm_stock_upload": ("POST", "/api/v1/stock/uploads/{stock_upload}/confirm"),
    # -- end of stock uploads --
    # -- finance (tests/finance/): accounts are addressed by channel link, {account} in _foreign --
    "finance.account_detail": ("GET", "/accounts/{account}"),
    "finance.account_payment": ("POST", "/accounts/{account}/payments"),
    "finance.account_adjustment": ("POST", "/accounts/{account}/adjustments"),
    "finance.account_statement": ("GET", "/accounts/{account}/statement"),
    "finance.account_statement_csv": ("GET", "/accounts/{account}/statement.csv"),
    "finance.account_statement_xlsx": ("GET", "/accounts/{account}/statement.xlsx"),
    "api_finance.list_entries": ("GET", "/api/v1/accounts/{account}/entries"),
    "api_finance.create_payment": ("POST", "/api/v1/accounts/{account}/payments"),
    "api_finance.create_adjustment": ("POST", "/api/v1/accounts/{account}/adjustments"),
    # -- end of finance --
    # -- orders API (tests/ordering/test_api.py): {order} is made in _foreign_order --
    "api_ordering.get_order": ("GET", "/api/v1/orders/{order}"),
    "api_ordering.approve": ("POST", "/api/v1/orders/{order}/approve"),
    "api_ordering.reject": ("POST", "/api/v1/orders/{order}/reject"),
    "api_ordering.cancel": ("POST", "/api/v1/orders/{order}/cancel"),
    "api_ordering.ship": ("POST", "/api/v1/orders/{order}/ship"),
    "api_ordering.receive": ("POST", "/api/v1/orders/{order}/receive"),
    # -- end of orders API --
    # -- ordering pages (tests/ordering/test_views.py): {order} from _foreign_order, {template}
    # from _foreign_template; shipment and return 1 need not exist: the order is a 404 first --
    "ordering.order_detail": ("GET", "/orders/{order}"),
    "ordering.order_approve": ("POST", "/orders/{order}/approve"),
    "ordering.order_reject": ("POST", "/orders/{order}/reject"),
    "ordering.order_buyer_approve": ("POST", "/orders/{order}/buyer-approve"),
    "ordering.order_buyer_reject": ("POST", "/orders/{order}/buyer-reject"),
    "ordering.order_cancel": ("POST", "/orders/{order}/cancel"),
    "ordering.order_ship": ("POST", "/orders/{order}/ship"),
    "ordering.order_close": ("POST", "/orders/{order}/close"),
    "ordering.order_return": ("POST", "/orders/{order}/return"),
    "ordering.order_reorder": ("POST", "/orders/{order}/reorder"),
    "ordering.shipment_receive": ("POST", "/orders/{order}/shipments/1/receive"),
    "ordering.return_approve": ("POST", "/orders/{order}/returns/1/approve"),
    "ordering.return_reject": ("POST", "/orders/{order}/returns/1/reject"),
    "ordering.return_receive": ("POST", "/orders/{order}/returns/1/receive"),
    "ordering.template_apply": ("POST", "/order-templates/{template}/apply"),
    "ordering.template_delete": ("POST", "/order-templates/{template}/delete"),
    # -- end of ordering pages --
    # -- replenishment pages (tests/replenishment/test_views.py): {suggestion} is made in
    # _foreign_suggestion --
    "replenishment.suggestion_detail": ("GET", "/replenishment/suggestions/{suggestion}"),
    "replenishment.suggestion_update": ("POST", "/replenishment/suggestions/{suggestion}/update"),
    "replenishment.suggestion_submit": ("POST", "/replenishment/suggestions/{suggestion}/submit"),
    "replenishment.suggestion_dismiss": ("POST", "/replenishment/suggestions/{suggestion}/dismiss"),
    # -- end of replenishment pages --
    # -- replenishment API (tests/replenishment/test_api.py): the location is in the query --
    "api_replenishment.list_suggestions": (
        "GET",
        "/api/v1/replenishment/suggestions?location={location}",
    ),
    # -- end of replenishment API --
    # -- online orders at one's own locations, and HQ's view of the brand's
    # (tests/storefront/test_staff_views.py, test_hq_order_views.py): {consumer_order} is made
    # in _foreign_consumer_order --
    "shop_orders.order_detail": ("GET", "/shop-orders/{consumer_order}"),
    "shop_orders.accept": ("POST", "/shop-orders/{consumer_order}/accept"),
    "shop_orders.ready": ("POST", "/shop-orders/{consumer_order}/ready"),
    "shop_orders.hand_over": ("POST", "/shop-orders/{consumer_order}/hand-over"),
    "shop_orders.ship": ("POST", "/shop-orders/{consumer_order}/ship"),
    "shop_orders.refund": ("POST", "/shop-orders/{consumer_order}/refund"),
    "shop_orders.hq_order_detail": ("GET", "/hq/shop-orders/{consumer_order}"),
    # -- end of online orders --
    # -- online returns at one's own locations (tests/storefront/test_return_views.py):
    # {consumer_return} is made in _foreign_consumer_return --
    "shop_orders.return_detail": ("GET", "/shop-returns/{consumer_return}"),
    "shop_orders.return_receive": ("POST", "/shop-returns/{consumer_return}/receive"),
    "shop_orders.return_refund": ("POST", "/shop-returns/{consumer_return}/refund"),
    "shop_orders.return_reject": ("POST", "/shop-returns/{consumer_return}/reject"),
    # -- end of online returns --
    # -- guides and commission (tests/guides/): {guide}, {statement} and {aisle_order} are made
    # in _foreign_guides; the loader runs before the permission, so a role without it gets the
    # 404 too --
    "guides.guide_page": ("GET", "/guides/guide/{guide}"),
    "guides.stop": ("POST", "/guides/store/{guide}/stop"),
    "commission.statement_detail": ("GET", "/commission/statements/{statement}"),
    "commission.approve_statement": ("POST", "/commission/statements/{statement}/approve"),
    "commission.mark_statement_paid": ("POST", "/commission/statements/{statement}/paid"),
    # -- endless aisle (tests/storefront/test_endless_aisle.py): an order is shown only to the
    # staff member who placed it --
    "aisle.aisle_order": ("GET", "/shop-orders/aisle/{aisle_order}"),
    # -- end of guides and commission --
    # -- campaigns (tests/campaigns/): {campaign}, {live_event}, {task} and {sharer} are another
    # brand's, made in _foreign_campaign, _foreign_live_event, _foreign_task and _foreign_sharer;
    # each route's scoped loader runs before the permission, so a role without it gets the 404
    # too. (A red-packet plan is loaded after the permission: see PLAIN_ROUTES and
    # test_another_brands_red_packet_plan_is_not_found.) --
    "campaigns.detail": ("GET", "/campaigns/{campaign}"),
    "campaigns.update": ("POST", "/campaigns/{campaign}"),
    "campaigns.start": ("POST", "/campaigns/{campaign}/start"),
    "campaigns.close": ("POST", "/campaigns/{campaign}/close"),
    "campaigns.report": ("GET", "/campaigns/{campaign}/report"),
    "campaigns.report_csv": ("GET", "/campaigns/{campaign}/report.csv"),
    # live events (tests/campaigns/events/); item 1 need not exist: the event is a 404 first
    "campaign_events.detail": ("GET", "/campaigns/events/{live_event}"),
    "campaign_events.update": ("POST", "/campaigns/events/{live_event}"),
    "campaign_events.item_add": ("POST", "/campaigns/events/{live_event}/items"),
    "campaign_events.item_remove": ("POST", "/campaigns/events/{live_event}/items/1/remove"),
    "campaign_events.publish": ("POST", "/campaigns/events/{live_event}/publish"),
    "campaign_events.cancel": ("POST", "/campaigns/events/{live_event}/cancel"),
    # tasks for guides (tests/campaigns/tasks/)
    "campaign_tasks.detail": ("GET", "/campaigns/tasks/{task}"),
    "campaign_tasks.update": ("POST", "/campaigns/tasks/{task}"),
    "campaign_tasks.publish": ("POST", "/campaigns/tasks/{task}/publish"),
    "campaign_tasks.close": ("POST", "/campaigns/tasks/{task}/close"),
    "campaign_tasks.completion_csv": ("GET", "/campaigns/tasks/{task}/completion.csv"),
    # sharers (tests/campaigns/sharers/)
    "campaign_sharers.sharer": ("GET", "/campaigns/sharers/{sharer}"),
    "campaign_sharers.stop": ("POST", "/campaigns/sharers/{sharer}/stop"),
    "campaign_packets.plan": ("GET", "/campaigns/red-packets/{red_packet_plan}"),
    "campaign_packets.stop": ("POST", "/campaigns/red-packets/{red_packet_plan}/stop"),
    "campaign_groups.detail": ("GET", "/campaigns/group-buys/{group_buy}"),
    "campaign_groups.start": ("POST", "/campaigns/group-buys/{group_buy}/start"),
    "campaign_groups.stop": ("POST", "/campaigns/group-buys/{group_buy}/stop"),
    # -- end of campaigns --
}

# Routes without an object: allowed when the role has the permission, else 403.
PLAIN_ROUTES = {
    "network.home": ("GET", "/"),
    # -- SKU tiers, HQ's page under its shop (tests/storefront/test_browse_views.py); another
    # brand's HQ gets a 404 there --
    "storefront.tier_search": ("GET", "/shop/ACME/hq/tiers"),
    "storefront.tier_product": ("GET", "/shop/ACME/hq/tiers/ACME-TEE-001"),
    "storefront.tier_moves": ("GET", "/shop/ACME/hq/tier-moves"),
    "network.tree": ("GET", "/network"),
    "network.org_list": ("GET", "/orgs"),
    "network.org_new": ("GET", "/orgs/new"),
    "core.job_list": ("GET", "/jobs"),
    "auth.account": ("GET", "/account"),
    "auth.change_password": ("GET", "/account/password"),
    "auth.switch_org": ("POST", "/switch-org"),
    "auth.api_keys": ("GET", "/settings/api-keys"),
    "api_auth.me": ("GET", "/api/v1/me"),
    "api_network.list_orgs": ("GET", "/api/v1/orgs"),
    "catalog.product_list": ("GET", "/catalog/products"),
    "catalog.product_new": ("GET", "/catalog/products/new"),
    "catalog.import_list": ("GET", "/catalog/imports"),
    "catalog.import_template_csv": ("GET", "/catalog/imports/template.csv"),
    "catalog.import_template_xlsx": ("GET", "/catalog/imports/template.xlsx"),
    "policy.browse": ("GET", "/catalog"),
    "policy.policy_list": ("GET", "/policies"),
    "policy.policy_new": ("GET", "/policies/new"),
    "policy.inbox": ("GET", "/inbox"),
    "api_policy.list_policies": ("GET", "/api/v1/policies"),
    "api_policy.create_policy": ("POST", "/api/v1/policies"),
    "api_policy.list_notifications": ("GET", "/api/v1/notifications"),
    "inventory.location_list": ("GET", "/stock"),
    "api_inventory.list_locations": ("GET", "/api/v1/locations"),
    # The location is in the body: another org's location is a 404 in tests/inventory/test_api.py.
    "api_inventory.create_adjustment": ("POST", "/api/v1/stock/adjustments"),
    # -- stock uploads (tests/inventory/test_upload.py) --
    "inventory.upload_template_csv": ("GET", "/stock/uploads/template.csv"),
    "inventory.upload_template_xlsx": ("GET", "/stock/uploads/template.xlsx"),
    # The location is in the body: another org's location is a 404 in test_upload.py.
    "api_inventory.create_stock_upload": ("POST", "/api/v1/stock/uploads"),
    # -- end of stock uploads --
    # -- finance (tests/finance/) --
    "finance.account_list": ("GET", "/accounts"),
    "api_finance.list_accounts": ("GET", "/api/v1/accounts"),
    # -- end of finance --
    # -- orders API and stock push --
    "api_ordering.catalog": ("GET", "/api/v1/catalog"),
    "api_ordering.place_order": ("POST", "/api/v1/orders"),
    "api_ordering.list_orders": ("GET", "/api/v1/orders"),
    "push.push": ("GET", "/stock/push"),
    "push.quotas": ("GET", "/stock/quotas"),
    # -- end of orders API and stock push --
    # -- ordering pages (tests/ordering/test_views.py): the actor's own org's carts load after
    # the permission check, so a brand it does not buy (HQ's own) is a 404 only then --
    "ordering.order_list": ("GET", "/orders"),
    "ordering.order_approve_many": ("POST", "/orders/approve"),
    "ordering.pick_list": ("GET", "/orders/pick-list"),
    "ordering.pick_list_csv": ("GET", "/orders/pick-list.csv"),
    "ordering.purchasing_rules": ("GET", "/orders/rules"),
    "ordering.cart_list": ("GET", "/cart"),
    "ordering.cart_detail": ("GET", "/cart/ACME"),
    "ordering.cart_quantities": ("POST", "/cart/ACME/quantities"),
    "ordering.cart_submit": ("POST", "/cart/ACME/submit"),
    "ordering.cart_quick": ("POST", "/cart/ACME/quick"),
    "ordering.cart_upload": ("POST", "/cart/ACME/upload"),
    "ordering.cart_clear": ("POST", "/cart/ACME/clear"),
    "ordering.template_save": ("POST", "/cart/ACME/templates"),
    # -- end of ordering pages --
    # -- replenishment pages (tests/replenishment/test_views.py): the brand to run or to toggle
    # auto-submit for is in the body; one the org does not buy is a 404 after the permission --
    "replenishment.suggestions": ("GET", "/replenishment"),
    "replenishment.rules": ("GET", "/replenishment/rules"),
    "replenishment.run": ("POST", "/replenishment/run"),
    "replenishment.auto_submit": ("POST", "/replenishment/rules/auto-submit"),
    # -- end of replenishment pages --
    # -- replenishment API (tests/replenishment/test_api.py): the org, location or region is in
    # the body; another org's is a 404 there --
    "api_replenishment.request_run": ("POST", "/api/v1/replenishment/runs"),
    "api_replenishment.report_sales": ("POST", "/api/v1/sales"),
    # -- end of replenishment API --
    # -- guides, store shops, commission and splits: where the org decides as well as the role,
    # PLAIN_ROUTE_ANSWERS below names each persona's answer --
    "guides.me": ("GET", "/guides/me"),
    "guides.customers": ("GET", "/guides/me/customers"),
    "guides.sales": ("GET", "/guides/me/sales"),
    "guides.leaderboard": ("GET", "/guides/leaderboard"),
    "guides.qr_png": ("GET", "/guides/me/qr.png?target=home"),
    "guides.qr_svg": ("GET", "/guides/me/qr.svg?target=home"),
    # A PNG poster, or a redirect to the SVG one where PNG posters cannot be drawn.
    "guides.poster_png": ("GET", "/guides/me/poster.png?target=home"),
    "guides.poster_svg": ("GET", "/guides/me/poster.svg?target=home"),
    "guides.store": ("GET", "/guides/store"),
    "guides.hq": ("GET", "/guides/hq"),
    "guides.hq_csv": ("GET", "/guides/hq/guides.csv"),
    "commission.statements": ("GET", "/commission/statements"),
    "commission.statements_xlsx": ("GET", "/commission/statements.xlsx"),
    "my_shop.home": ("GET", "/my-shop/"),
    "my_shop.settings": ("GET", "/my-shop/settings"),
    "my_shop.save_settings": ("POST", "/my-shop/settings"),
    "my_shop.prices": ("GET", "/my-shop/prices"),
    "my_shop.set_price": ("POST", "/my-shop/prices/ACME-TEE-001"),
    "aisle.aisle_form": ("GET", "/shop-orders/aisle"),
    "aisle.aisle_place": ("POST", "/shop-orders/aisle"),
    "splits.index": ("GET", "/splits?month=2000-01"),
    "splits.export": ("GET", "/splits.csv?month=2000-01"),
    # -- end of guides, store shops, commission and splits --
    # -- selling online (tests/storefront/test_online_views.py, test_feed_api.py): the brand's
    # own HQ only; anyone else who holds the permission gets a 404 there --
    "storefront.online_locations": ("GET", "/shop/ACME/hq/online-locations"),
    "storefront.online_location_update": ("POST", "/shop/ACME/hq/online-locations/S1-SHELF"),
    "storefront.online_region": ("POST", "/shop/ACME/hq/online-locations/by-region"),
    "api_shop_feed.availability": ("GET", "/api/v1/shop/ACME/feed/availability"),
    # -- end of selling online --
    # -- stock webhooks (tests/storefront/test_webhooks.py): the brand's own HQ only; another
    # brand's HQ gets a 404 there --
    "storefront.webhook_list": ("GET", "/shop/ACME/hq/webhooks"),
    "storefront.webhook_add": ("POST", "/shop/ACME/hq/webhooks"),
    "storefront.webhook_remove": ("POST", "/shop/ACME/hq/webhooks/999999/remove"),
    # -- end of stock webhooks --
    # -- online orders (tests/storefront/test_staff_views.py, test_hq_order_views.py): a code
    # of another store's order is "no order here" there; HQ's list is its own brand's --
    "shop_orders.pickups": ("GET", "/shop-orders/pickups"),
    "shop_orders.deliveries": ("GET", "/shop-orders/deliveries"),
    "shop_orders.hand_over_by_code": ("POST", "/shop-orders/hand-over"),
    "shop_orders.hq_orders": ("GET", "/hq/shop-orders"),
    "shop_orders.returns_queue": ("GET", "/shop-returns/"),
    "shop_orders.hq_returns": ("GET", "/hq/shop-returns"),
    # -- end of online orders --
    # -- members (tests/members/): the brand's own HQ only; another brand's HQ gets a 404
    # there, and a store's sale reported for another store is a 404 (test_pos.py) --
    "api_members.record_pos_sale": ("POST", "/api/v1/members/pos-sales"),
    "api_members.refund_pos_sale": ("POST", "/api/v1/members/pos-sales/NONE/refund"),
    "coupons.hq_templates": ("GET", "/shop/ACME/hq/coupons"),
    "coupons.hq_template_new": ("GET", "/shop/ACME/hq/coupons/new"),
    "coupons.hq_template": ("GET", "/shop/ACME/hq/coupons/999999"),
    "coupons.hq_template_issue": ("POST", "/shop/ACME/hq/coupons/999999/issue"),
    "coupons.hq_template_stop": ("POST", "/shop/ACME/hq/coupons/999999/stop"),
    "employee_store.hq_employee_store": ("GET", "/shop/ACME/hq/employee-store"),
    "employee_store.hq_hr_template": ("GET", "/shop/ACME/hq/employee-store/hr-list/template.csv"),
    "employee_store.hq_hr_upload": ("POST", "/shop/ACME/hq/employee-store/hr-list"),
    "employee_store.hq_hr_confirm": (
        "POST",
        "/shop/ACME/hq/employee-store/hr-list/999999/confirm",
    ),
    "employee_store.hq_partner_add": ("POST", "/shop/ACME/hq/employee-store/partners"),
    "employee_store.hq_partner": ("GET", "/shop/ACME/hq/employee-store/partners/999999"),
    "employee_store.hq_partner_update": ("POST", "/shop/ACME/hq/employee-store/partners/999999"),
    "employee_store.hq_partner_end": (
        "POST",
        "/shop/ACME/hq/employee-store/partners/999999/end",
    ),
    "employee_store.hq_entitlement_revoke": (
        "POST",
        "/shop/ACME/hq/employee-store/entitlements/999999/revoke",
    ),
    "members.enrol": ("GET", "/members/enrol"),
    "api_members.enrol_member": ("POST", "/api/v1/members"),
    "members.hq_members": ("GET", "/shop/ACME/hq/members"),
    "members.hq_member": ("GET", "/shop/ACME/hq/members/M0000000000"),
    "members.hq_member_tag_add": ("POST", "/shop/ACME/hq/members/M0000000000/tags"),
    "members.hq_member_tag_remove": (
        "POST",
        "/shop/ACME/hq/members/M0000000000/tags/1/remove",
    ),
    "members.hq_tags": ("GET", "/shop/ACME/hq/tags"),
    "members.hq_tag_add": ("POST", "/shop/ACME/hq/tags"),
    "members.hq_tag_delete": ("POST", "/shop/ACME/hq/tags/999999/delete"),
    "members.hq_segments": ("GET", "/shop/ACME/hq/segments"),
    "members.hq_segment_add": ("POST", "/shop/ACME/hq/segments"),
    "members.hq_segment": ("GET", "/shop/ACME/hq/segments/999999"),
    "members.hq_segment_update": ("POST", "/shop/ACME/hq/segments/999999"),
    "members.hq_segment_delete": ("POST", "/shop/ACME/hq/segments/999999/delete"),
    "members.hq_segment_export": ("GET", "/shop/ACME/hq/segments/999999/export.csv"),
    "members.hq_program": ("GET", "/shop/ACME/hq/program"),
    "private_sales.sale_list": ("GET", "/shop/ACME/hq/private-sales"),
    "private_sales.sale_create": ("POST", "/shop/ACME/hq/private-sales"),
    "private_sales.sale_detail": ("GET", "/shop/ACME/hq/private-sales/NEIGOU-NOW"),
    "private_sales.sale_update": ("POST", "/shop/ACME/hq/private-sales/NEIGOU-NOW"),
    "private_sales.sale_item_add": ("POST", "/shop/ACME/hq/private-sales/NEIGOU-NOW/items"),
    "private_sales.sale_item_remove": (
        "POST",
        "/shop/ACME/hq/private-sales/NEIGOU-NOW/items/1/remove",
    ),
    "private_sales.sale_publish": ("POST", "/shop/ACME/hq/private-sales/NEIGOU-NOW/publish"),
    "private_sales.sale_end": ("POST", "/shop/ACME/hq/private-sales/NEIGOU-NOW/end"),
    # -- end of members --
    # -- campaigns (tests/campaigns/): HQ's pages are its own brand's (anyone else at an org
    # with the permission finds nothing there); a guide's pages are about the guide's own
    # brand. NO-SUCH-EVENT is no event, plan 999999 no red-packet plan (another brand's real
    # plan: test_another_brands_red_packet_plan_is_not_found) --
    "campaigns.index": ("GET", "/campaigns/"),
    "campaigns.create": ("POST", "/campaigns/"),
    # live events (tests/campaigns/events/)
    "campaign_events.index": ("GET", "/campaigns/events/"),
    "campaign_events.new": ("GET", "/campaigns/events/new"),
    "campaign_events.create": ("POST", "/campaigns/events/new"),
    "campaign_events.my_links": ("GET", "/guides/me/events"),
    "campaign_events.my_qr": ("GET", "/guides/me/events/NO-SUCH-EVENT/qr.svg"),
    "campaign_events.my_poster_png": ("GET", "/guides/me/events/NO-SUCH-EVENT/poster.png"),
    "campaign_events.my_poster_svg": ("GET", "/guides/me/events/NO-SUCH-EVENT/poster.svg"),
    # tasks for guides (tests/campaigns/tasks/): HQ's and distributors' list, a store's, a guide's
    "campaign_tasks.index": ("GET", "/campaigns/tasks/"),
    "campaign_tasks.create": ("POST", "/campaigns/tasks/"),
    "campaign_tasks.store_tasks": ("GET", "/guides/store/tasks"),
    "campaign_tasks.my_tasks": ("GET", "/guides/me/tasks"),
    # red packets (tests/campaigns/packets/)
    "campaign_packets.index": ("GET", "/campaigns/red-packets/"),
    "campaign_packets.create": ("POST", "/campaigns/red-packets/"),
    "campaign_groups.index": ("GET", "/campaigns/group-buys/"),
    "campaign_groups.create": ("POST", "/campaigns/group-buys/"),
    "campaign_packets.my_packets": ("GET", "/guides/me/red-packets"),
    "campaign_packets.guide_send": ("POST", "/guides/me/red-packets"),
    # sharers (tests/campaigns/sharers/)
    "campaign_sharers.index": ("GET", "/campaigns/sharers"),
    "campaign_sharers.add": ("POST", "/campaigns/sharers"),
    "campaign_sharers.me": ("GET", "/campaigns/sharers/me"),
    # -- end of campaigns --
}

# What each persona gets on a plain route where its org decides as well as its role (a persona
# not named here follows the role table: 403 without the permission). A role holding the
# permission at an org the page is not for finds nothing there (404) or is sent to its own page.
_HQ = ("hq_admin", "hq_merchandiser", "other_brand_hq")
_GUIDES = (*_HQ, "store_owner", "store_staff")
_NOT_A_STORE = {"hq_admin": 404, "other_brand_hq": 404}
PLAIN_ROUTE_ANSWERS: dict[str, dict[str, int]] = {
    **{
        endpoint: dict.fromkeys(_GUIDES, 200)
        for endpoint in (
            "guides.me",
            "guides.customers",
            "guides.sales",
            "guides.leaderboard",
            "guides.qr_png",
            "guides.qr_svg",
            "guides.poster_svg",
            "commission.statements",
        )
    },
    "guides.store": {**dict.fromkeys(_HQ, 302), "store_owner": 200},
    "guides.hq": {**dict.fromkeys(_HQ, 200), "store_owner": 404},
    "guides.hq_csv": {**dict.fromkeys(_HQ, 200), "store_owner": 404},
    "commission.statements_xlsx": {**dict.fromkeys(_HQ, 200), "store_owner": 200},
    "my_shop.home": {"store_owner": 200, **_NOT_A_STORE},
    "my_shop.settings": {"store_owner": 200, **_NOT_A_STORE},
    "my_shop.save_settings": {"store_owner": 302, **_NOT_A_STORE},  # saved switched off
    "my_shop.prices": {"store_owner": 200, **_NOT_A_STORE},
    "my_shop.set_price": {"store_owner": 302, **_NOT_A_STORE},  # back to the official price
    "aisle.aisle_form": {"store_owner": 200, "store_staff": 200, **dict.fromkeys(_HQ, 404)},
    "aisle.aisle_place": {"store_owner": 422, "store_staff": 422, **dict.fromkeys(_HQ, 404)},
    # Consumer sales divide between HQ and stores: a distributor holds finance.view for its
    # accounts but has no share here: the page is not there for it (404), like /my-shop for HQ.
    **{
        endpoint: {
            **dict.fromkeys((*_HQ, "store_owner"), 200),
            "distributor_admin": 404,
            "distributor_buyer": 404,
        }
        for endpoint in ("splits.index", "splits.export")
    },
    # -- campaigns (tests/campaigns/): an empty form is a 422; a distributor gives tasks in the
    # brands it sells and finds the campaigns landing's links to them; HQ is sent from a store's
    # task page to its own; a guide has no NO-SUCH-EVENT to share, no plan named by an empty
    # form to send, and HQ's people who are no sharers have no sharer's page --
    "campaigns.index": {**dict.fromkeys(_HQ, 200), "distributor_admin": 200},
    "campaigns.create": dict.fromkeys(_HQ, 422),
    **{
        endpoint: dict.fromkeys(_HQ, 200)
        for endpoint in (
            "campaign_events.index",
            "campaign_events.new",
            "campaign_packets.index",
            "campaign_sharers.index",
        )
    },
    **{
        endpoint: dict.fromkeys(_HQ, 422)
        for endpoint in (
            "campaign_events.create",
            "campaign_packets.create",
            "campaign_sharers.add",
            "campaign_groups.create",
        )
    },
    **{
        endpoint: dict.fromkeys(_GUIDES, 200)
        for endpoint in (
            "campaign_events.my_links",
            "campaign_tasks.my_tasks",
            "campaign_packets.my_packets",
        )
    },
    **{
        endpoint: dict.fromkeys(_GUIDES, 404)
        for endpoint in (
            "campaign_events.my_qr",
            "campaign_events.my_poster_png",
            "campaign_events.my_poster_svg",
            "campaign_packets.guide_send",
            "campaign_sharers.me",
        )
    },
    "campaign_tasks.index": {**dict.fromkeys(_HQ, 200), "distributor_admin": 200},
    "campaign_tasks.create": {**dict.fromkeys(_HQ, 422), "distributor_admin": 422},
    "campaign_tasks.store_tasks": {**dict.fromkeys(_HQ, 302), "store_owner": 200},
    # -- end of campaigns --
}

# Routes whose "other org's object" is a product or price the caller is not authorized for:
# covered by the tests named here (tests/policy/test_views.py), not by the generic walk.
CATALOG_ROUTES = {
    "policy.offer": "test_unauthorized_product_is_not_found",
    "policy.offer_image": "test_unauthorized_product_is_not_found",
    "policy.why": "test_price_explanation_of_unauthorized_sku_is_not_found",
    "api_policy.price": "test_price_explanation_of_unauthorized_sku_is_not_found",
    # -- ordering pages: the grid of a product one may not order (tests/ordering/test_views.py)
    "ordering.order_grid": "test_grid_is_not_found_for_a_brand_one_does_not_buy",
}

PUBLIC_ROUTES = {
    "core.healthz",
    "storefront.home",
    # -- browsing the shops (tests/storefront/test_browse_views.py) --
    "storefront.product",
    "storefront.product_image",
    "storefront.theme_css",
    "storefront.logo",
    # -- consumer accounts (tests/storefront/test_consumer_views.py, test_shop_api.py) --
    "storefront.sign_in",
    "storefront.sign_in_code",
    "storefront.sign_in_verify",
    "storefront.sign_in_email",
    "storefront.sign_up",
    "storefront.sign_out",
    "api_shop.request_code",
    "api_shop.token_from_code",
    "api_shop.token_from_password",
    # -- buying through the API: browsing is as public as the official storefront
    # (tests/storefront/test_shop_order_api.py) --
    "api_shop.list_catalog",
    "api_shop.get_product",
    "api_shop.availability",
    "api_shop.pickup_stores",
    # -- end of consumer accounts --
    # -- paying: the providers' signed notices and the test gateway's page, which stands in
    # for a provider's site (tests/storefront/test_pay_views.py) --
    "storefront.pay_notify",
    "storefront.test_gateway",
    "core.readyz",
    "core.metrics_text",
    "auth.login",
    "auth.logout",
    "auth.set_language",
    "auth.accept_invitation",
    "api_auth.issue_token",
    "openapi.spec",
    # -- a coupon's shared link: anyone may open it; claiming needs a member --
    "coupons.claim_page",
    # -- a guide's shared link and a store's own shop, for anyone while the shop is on
    # (test_a_guide_link_opens_for_anyone_and_a_forged_one_records_nothing,
    # test_a_stores_shop_is_open_to_anyone_only_while_it_is_on) --
    "guide_links.open_link",
    "storefront.store_shop",
    "storefront.store_shop_product",
    # -- sign-in with WeChat: the QR start, WeChat's callback, the phone step that links the
    # identity, the test backend's stand-in QR page (404 unless on), and the mini-program's API
    # (tests/storefront/wechat/) --
    "shop_wechat.start",
    "shop_wechat.callback",
    "shop_wechat.link_form",
    "shop_wechat.link_send_code",
    "shop_wechat.link_verify",
    "shop_wechat.test_qr_page",
    "shop_wechat.test_qr_scan",
    "api_shop_wechat.wechat_session",
    "api_shop_wechat.wechat_link",
    # -- campaigns (tests/campaigns/): a live event's page, while published, and a red packet's
    # page, for anyone; claiming from it needs a signed-in member --
    "campaign_events.event_page",
    "campaign_packets.packet_page",
    "campaign_groups.offer_page",
    "campaign_groups.group_page",
    "campaign_groups.offer_json",
    "campaign_groups.group_json",
    # -- end of campaigns --
}

# -- consumer accounts: routes for the signed-in consumer of the URL's brand (@consumer_required,
# portal/storefront/auth.py). {brand} is a brand's code, {address} one of the consumer's addresses.
CONSUMER_ROUTES = {
    "storefront.account": ("GET", "/shop/{brand}/account/"),
    "storefront.address_add": ("POST", "/shop/{brand}/account/addresses"),
    "storefront.address_edit": ("GET", "/shop/{brand}/account/addresses/{address}/edit"),
    "storefront.address_delete": ("POST", "/shop/{brand}/account/addresses/{address}/delete"),
    "storefront.account_export": ("GET", "/shop/{brand}/account/export.json"),
    "storefront.account_delete": ("GET", "/shop/{brand}/account/delete"),
    "shop_wechat.manage": ("GET", "/shop/{brand}/account/wechat/manage"),
    "shop_wechat.unlink": ("POST", "/shop/{brand}/account/wechat/unlink"),
    "api_shop.revoke_token": ("DELETE", "/api/v1/shop/{brand}/token"),
    "api_shop.me": ("GET", "/api/v1/shop/{brand}/me"),
    "api_shop.list_addresses": ("GET", "/api/v1/shop/{brand}/addresses"),
    "api_shop.add_address": ("POST", "/api/v1/shop/{brand}/addresses"),
    "api_shop.update_address": ("PUT", "/api/v1/shop/{brand}/addresses/{address}"),
    "api_shop.delete_address": ("DELETE", "/api/v1/shop/{brand}/addresses/{address}"),
    # -- buying through the API (tests/storefront/test_shop_order_api.py); C0 is no order --
    "api_shop.get_cart": ("GET", "/api/v1/shop/{brand}/cart"),
    "api_shop.add_cart_line": ("POST", "/api/v1/shop/{brand}/cart/lines"),
    "api_shop.set_cart_line": ("PUT", "/api/v1/shop/{brand}/cart/lines/1"),
    "api_shop.remove_cart_line": ("DELETE", "/api/v1/shop/{brand}/cart/lines/1"),
    "api_shop.place_order": ("POST", "/api/v1/shop/{brand}/checkout"),
    "api_shop.checkout_options": ("GET", "/api/v1/shop/{brand}/checkout/options"),
    "api_shop.start_payment": ("POST", "/api/v1/shop/{brand}/orders/C0/pay"),
    "api_shop.list_orders": ("GET", "/api/v1/shop/{brand}/orders"),
    "api_shop.get_order": ("GET", "/api/v1/shop/{brand}/orders/C0"),
    "api_shop.cancel_order": ("POST", "/api/v1/shop/{brand}/orders/C0/cancel"),
    # -- members (tests/members/): points, wallet, coupons, the employee store --
    "members.card": ("GET", "/shop/{brand}/member/"),
    "members.join": ("GET", "/shop/{brand}/member/join"),
    "api_members.get_member": ("GET", "/api/v1/shop/{brand}/member"),
    "api_members.join_member": ("POST", "/api/v1/shop/{brand}/member"),
    "member_wallet.points_page": ("GET", "/shop/{brand}/member/points"),
    "member_wallet.wallet_page": ("GET", "/shop/{brand}/member/wallet"),
    "member_wallet.top_up": ("GET", "/shop/{brand}/member/wallet/top-up"),
    "member_wallet.top_up_start": ("POST", "/shop/{brand}/member/wallet/top-up"),
    "member_wallet.top_up_pay": ("GET", "/shop/{brand}/member/wallet/top-up/W0"),
    "api_members.member_points": ("GET", "/api/v1/shop/{brand}/member/points"),
    "api_members.member_wallet": ("GET", "/api/v1/shop/{brand}/member/wallet"),
    "coupons.my_coupons": ("GET", "/shop/{brand}/member/coupons"),
    "coupons.claim": ("POST", "/shop/{brand}/coupons/x/claim"),
    "api_members.coupon_list_mine": ("GET", "/api/v1/shop/{brand}/member/coupons"),
    "api_members.coupon_claim": ("POST", "/api/v1/shop/{brand}/coupons/x/claim"),
    "employee_store.join": ("GET", "/shop/{brand}/employee/join"),
    "employee_store.join_with_code": ("POST", "/shop/{brand}/employee/join"),
    "employee_store.verify_email": ("POST", "/shop/{brand}/employee/verify"),
    "employee_store.verify_email_confirm": ("POST", "/shop/{brand}/employee/verify/confirm"),
    "employee_store.my_invites": ("GET", "/shop/{brand}/employee/invites"),
    "employee_store.invite_make": ("POST", "/shop/{brand}/employee/invites"),
    "employee_store.invite_withdraw": ("POST", "/shop/{brand}/employee/invites/1/withdraw"),
    "api_members.employee_status": ("GET", "/api/v1/shop/{brand}/employee/status"),
    "api_members.employee_invite": ("POST", "/api/v1/shop/{brand}/employee/invites"),
    "api_members.employee_join": ("POST", "/api/v1/shop/{brand}/employee/join"),
    "api_members.employee_email_code": ("POST", "/api/v1/shop/{brand}/employee/email-code"),
    "api_members.employee_email_verify": (
        "POST",
        "/api/v1/shop/{brand}/employee/email-code/verify",
    ),
    "private_sales.shop_sales": ("GET", "/shop/{brand}/employee/sales/"),
    "private_sales.shop_sale": ("GET", "/shop/{brand}/employee/sales/NEIGOU-NOW"),
    "private_sales.shop_sale_buy": ("POST", "/shop/{brand}/employee/sales/NEIGOU-NOW/buy"),
    # -- end of members --
    # -- a consumer buys (tests/storefront/test_cart_views.py, test_checkout_views.py,
    # test_pay_views.py, test_consumer_order_views.py); C0 is no order: sign-in comes first --
    "storefront.cart": ("GET", "/shop/{brand}/cart"),
    "storefront.cart_add": ("POST", "/shop/{brand}/cart/add"),
    "storefront.cart_line": ("POST", "/shop/{brand}/cart/lines/1"),
    "storefront.checkout": ("GET", "/shop/{brand}/checkout"),
    "storefront.checkout_place": ("POST", "/shop/{brand}/checkout"),
    "storefront.pay": ("GET", "/shop/{brand}/orders/C0/pay"),
    "storefront.consumer_orders": ("GET", "/shop/{brand}/orders/"),
    "storefront.consumer_order": ("GET", "/shop/{brand}/orders/C0"),
    "storefront.pickup_qr": ("GET", "/shop/{brand}/orders/C0/pickup-code.svg"),
    "storefront.consumer_order_cancel": ("POST", "/shop/{brand}/orders/C0/cancel"),
    "storefront.consumer_order_delivered": ("POST", "/shop/{brand}/orders/C0/confirm-delivery"),
    # -- returns (tests/storefront/test_return_views.py); C0 is no order --
    "storefront.order_returns": ("GET", "/shop/{brand}/orders/C0/returns"),
    "storefront.order_return_request": ("POST", "/shop/{brand}/orders/C0/returns"),
    "api_shop.list_returns": ("GET", "/api/v1/shop/{brand}/orders/C0/returns"),
    "api_shop.request_return": ("POST", "/api/v1/shop/{brand}/orders/C0/returns"),
    # -- a store's own shop (tests/storefront/test_store_shop_views.py): sign-in comes before
    # the shop is looked at, so S1 need not sell anything here --
    "storefront.store_shop_cart": ("GET", "/shop/{brand}/s/S1/cart"),
    "storefront.store_shop_cart_add": ("POST", "/shop/{brand}/s/S1/cart/add"),
    "storefront.store_shop_cart_remove": ("POST", "/shop/{brand}/s/S1/cart/lines/1/remove"),
    "storefront.store_shop_checkout": ("POST", "/shop/{brand}/s/S1/checkout"),
    # -- a guide's link opened in the mini-program (tests/guides/test_link_views.py) --
    "api_guide_links.record_visit": ("POST", "/api/v1/shop/{brand}/guide-visits"),
    # -- campaigns (tests/campaigns/packets/): a member's red packets, sending one, and claiming
    # one; packet x need not exist: sign-in comes first --
    "campaign_packets.member_packets": ("GET", "/shop/{brand}/account/red-packets"),
    "campaign_packets.member_send": ("POST", "/shop/{brand}/account/red-packets"),
    "campaign_packets.claim": ("POST", "/shop/{brand}/red-packets/x/claim"),
    # -- end of campaigns --
}
# -- end of consumer accounts --


def test_every_route_declares_require_or_public(app):
    undeclared = [
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and route_access(app, rule.endpoint) is None
    ]
    assert undeclared == []


def test_every_route_is_in_the_access_matrix(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules()} - {"static"}
    listed = set(OBJECT_ROUTES) | set(PLAIN_ROUTES) | PUBLIC_ROUTES | set(CATALOG_ROUTES)
    listed |= set(CONSUMER_ROUTES)
    assert endpoints - listed == set(), "add new routes to the access matrix"
    assert listed - endpoints == set(), "the matrix lists routes that no longer exist"
    for endpoint in PUBLIC_ROUTES:
        assert route_access(app, endpoint)[0] == "public"
    for endpoint in CONSUMER_ROUTES:
        assert route_access(app, endpoint) == ("consumer", None)


def test_plain_route_answers_name_listed_routes_and_personas():
    assert set(PLAIN_ROUTE_ANSWERS) <= set(PLAIN_ROUTES)
    assert all(set(answers) <= set(PERSONAS) for answers in PLAIN_ROUTE_ANSWERS.values())


def _foreign(persona: str) -> dict[str, object]:
    """Objects of an org the persona cannot see."""
    if persona == "other_brand_hq":
        org_code, brand, email, owner = "S2", "ACME", "store2@demo.test", "store2@demo.test"
    else:
        org_code, brand, email, owner = "L2", "LUMI", "dist4@demo.test", "dist4@demo.test"
    target = org(org_code)
    membership = db.session.execute(
        select(Membership).join(User).where(User.email == email)
    ).scalar_one()
    job = JobRun(
        id=f"test:{org_code}",
        name="x",
        title="foreign",
        org_id=target.id,
        brand_id=org(brand).id,
    )
    db.session.add(job)
    key, _token = create_api_key(actor_for(owner), name="erp", scopes=["network.view"])
    db.session.flush()
    version = db.session.execute(
        select(PolicyVersion).where(PolicyVersion.brand_id == org(brand).id).limit(1)
    ).scalar_one()
    notification = db.session.execute(
        select(Notification).where(Notification.org_id == target.id).limit(1)
    ).scalar_one()
    product = db.session.execute(
        select(Product).where(Product.brand_id == org(brand).id).limit(1)
    ).scalar_one()
    upload = CatalogImport(
        brand_id=org(brand).id, filename="x.csv", stored_path="imports/x.csv", sha256="0" * 64
    )
    db.session.add(upload)
    db.session.flush()
    location = db.session.execute(
        select(Location).where(Location.org_id == target.id, Location.is_default.is_(True))
    ).scalar_one()
    return {
        "org": org_code,
        "brand": org(brand).id,
        "product": product.id,
        "import": upload.id,
        "membership": membership.id,
        "job": job.id,
        "key": key.id,
        "version": version.id,
        "notification": notification.id,
        "location": location.code,
        "stock_upload": _foreign_stock_upload(location),  # stock uploads
        "account": _foreign_account(target, org(brand)),  # finance
        "order": _foreign_order(target, org(brand), location),  # orders
        "template": _foreign_template(target, org(brand)),  # ordering pages
        "suggestion": _foreign_suggestion(target, org(brand), location),  # replenishment pages
        "consumer_order": _foreign_consumer_order(org(brand), location),  # online orders
        "consumer_return": _foreign_consumer_return(org(brand), location),  # online returns
        **_foreign_guides(target, org(brand), location),  # guides and commission
        "campaign": _foreign_campaign(org(brand)),  # campaigns
        "live_event": _foreign_live_event(org(brand)),  # campaigns: live events
        "task": _foreign_task(org(brand)),  # campaigns: tasks for guides
        "sharer": _foreign_sharer(org(brand)),  # campaigns: sharers
        "red_packet_plan": _foreign_red_packet_plan(org(brand)),  # campaigns: red packets
        "group_buy": _foreign_group_buy(org(brand)),  # campaigns: group buys
    }


# -- campaigns (tests/campaigns/) ------------------------------------------------------------------


def _foreign_campaign(brand: Organization) -> int:
    """A draft campaign of a brand the persona is not HQ of (written directly)."""
    from datetime import timedelta

    from portal.campaigns.models import Campaign
    from portal.core.db import utcnow

    row = Campaign(
        brand_id=brand.id,
        code="FOREIGN",
        name="Foreign",
        starts_at=utcnow(),
        ends_at=utcnow() + timedelta(days=7),
    )
    db.session.add(row)
    db.session.flush()
    return row.id


def _foreign_live_event(brand: Organization) -> str:
    """A draft live event of a brand the persona is not HQ of (written directly)."""
    from datetime import timedelta

    from portal.campaigns.models import LiveEvent
    from portal.core.db import utcnow

    event = LiveEvent(
        brand_id=brand.id,
        code="FOREIGN-LIVE",
        name="Foreign live",
        starts_at=utcnow(),
        ends_at=utcnow() + timedelta(hours=1),
    )
    db.session.add(event)
    db.session.flush()
    return event.code


def _foreign_task(brand: Organization) -> int:
    """A task of the brand's HQ (written directly: only its visibility is under test)."""
    from datetime import timedelta

    from portal.campaigns.models import GuideTask
    from portal.core.db import utcnow

    task = GuideTask(
        brand_id=brand.id,
        owner_org_id=brand.id,
        code="T-FOREIGN",
        title="Foreign task",
        kind="orders",
        starts_at=utcnow(),
        ends_at=utcnow() + timedelta(days=1),
    )
    db.session.add(task)
    db.session.flush()
    return task.id


def _foreign_sharer(brand: Organization) -> int:
    """One of the brand's HQ people made a sharer by its HQ (through the service)."""
    from portal.campaigns import sharers
    from portal.network import people
    from tests.support.policy import hq_actor

    user = people.create_user(
        email=f"sharer-{brand.code.lower()}@access.test", name="Sharer", password="x" * 12
    )
    people.add_member(Actor.system(), brand, user, Role.HQ_MERCHANDISER)
    return sharers.add_sharer(hq_actor(brand), user_id=user.id, kind="community_operator").id


def _foreign_red_packet_plan(brand: Organization) -> int:
    """An active red-packet plan of the brand and its coupon template (written directly: the
    service asks for the brand's red packets to be on, and only the plan's visibility is under
    test)."""
    from portal.campaigns.models import RedPacketPlan
    from portal.members.coupon_models import CouponTemplate

    template = CouponTemplate(
        brand_id=brand.id,
        code="RP-FOREIGN",
        name="Foreign packet",
        kind="amount",
        amount_cents=1000,
        tiers=["official"],
        validity="days",
        valid_days=7,
        total_limit=30,
        distribution="issue",
    )
    db.session.add(template)
    db.session.flush()
    plan = RedPacketPlan(
        brand_id=brand.id,
        code="FOREIGN",
        name="Foreign packet",
        packet_cents=3000,
        coupons_per_packet=3,
        template_id=template.id,
        packets_total=10,
        packets_sent=0,
        packets_per_sender=1,
        senders="guides",
        status="active",
    )
    db.session.add(plan)
    db.session.flush()
    return plan.id


def _foreign_group_buy(brand: Organization) -> str:
    """A draft group buy of the brand (written directly: only its visibility is under test)."""
    from datetime import timedelta

    from portal.campaigns.models import GroupBuy
    from portal.core.db import utcnow

    product = db.session.execute(
        select(Product).where(Product.brand_id == brand.id).limit(1)
    ).scalar_one()
    offer = GroupBuy(
        brand_id=brand.id,
        code="GB-FOREIGN",
        name="Foreign group buy",
        product_id=product.id,
        price_cents=10_000,
        starts_at=utcnow(),
        ends_at=utcnow() + timedelta(days=7),
    )
    db.session.add(offer)
    db.session.flush()
    return offer.code


# -- end of campaigns ------------------------------------------------------------------------------


# -- online orders (tests/storefront/test_staff_views.py) ------------------------------------------


def _foreign_consumer_order(brand: Organization, location: Location) -> str:
    """A paid consumer order fulfilled at a location the persona cannot see (written directly:
    only its visibility is under test)."""
    from portal.storefront.models import ConsumerOrder

    order = ConsumerOrder(
        number=f"C-FOREIGN-{location.code}"[:32],
        brand_id=brand.id,
        tier="official",
        status="paid",
        fulfilment="pickup",
        location_id=location.id,
        checkout_token="foreign",
        currency="CNY",
        contact_name="Foreign Consumer",
        contact_phone="+8613800000000",
    )
    db.session.add(order)
    db.session.flush()
    return order.number


def _foreign_consumer_return(brand: Organization, location: Location) -> str:
    """A return asked of the foreign consumer order, to be received at that location."""
    from portal.storefront.models import ConsumerOrder
    from portal.storefront.return_models import ConsumerReturn

    order = db.session.execute(
        select(ConsumerOrder).where(ConsumerOrder.number == f"C-FOREIGN-{location.code}"[:32])
    ).scalar_one()
    found = ConsumerReturn(
        number=f"{order.number}-R1",
        brand_id=brand.id,
        order_id=order.id,
        location_id=location.id,
        status="requested",
        currency="CNY",
    )
    db.session.add(found)
    db.session.flush()
    return found.number


# -- end of online orders ------------------------------------------------------------------------


# -- guides and commission (tests/guides/, tests/storefront/test_endless_aisle.py) --------------

STATEMENT_PERIOD = "2000-01"


def _guide_at(store: Organization, brand: Organization, email: str) -> Guide:
    """A new staff member of `store` with a guide code of `brand` (through the roster)."""
    from portal.guides import roster
    from portal.network import people

    user = people.create_user(email=email, name=f"Guide at {store.code}", password="demo1234")
    people.add_member(Actor.system(), store, user, Role.STORE_STAFF)
    guide = roster.guide_for(user.id, store.id, brand.id)
    assert guide is not None
    return guide


def _statement(store: Organization, brand: Organization, guide: Guide | None = None) -> int:
    """A draft commission statement of the store (or of one of its guides), as the month-end
    settlement leaves it (written directly: only who may see and act on it is under test)."""
    statement = CommissionStatement(
        brand_id=brand.id,
        period=STATEMENT_PERIOD,
        party=StatementParty.STORE if guide is None else StatementParty.GUIDE,
        org_id=store.id,
        guide_id=None if guide is None else guide.id,
        amount_cents=597,
        entries=1,
        status=StatementStatus.DRAFT,
    )
    db.session.add(statement)
    db.session.flush()
    return statement.id


def _aisle_order(brand: Organization, location: Location, placed_by: User, number: str) -> str:
    """An endless-aisle order a store's staff member placed for a walk-in customer (written
    directly: only who may open its page is under test)."""
    from portal.storefront.models import ConsumerOrder

    order = ConsumerOrder(
        number=number,
        brand_id=brand.id,
        tier="official",
        status="awaiting_payment",
        fulfilment="delivery",
        location_id=location.id,
        checkout_token=f"aisle-{number}",
        currency="CNY",
        contact_name="Walk-in Customer",
        contact_phone="+8613800000001",
        shop_org_id=location.org_id,
        placed_by_user_id=placed_by.id,
    )
    db.session.add(order)
    db.session.flush()
    return order.number


def _foreign_guides(store: Organization, brand: Organization, location: Location) -> dict:
    """A guide of a store the persona cannot see, its store's commission statement, and an
    aisle order its guide placed there."""
    guide = _guide_at(store, brand, f"guide-{store.code.lower()}@access.test")
    return {
        "guide": guide.id,
        "statement": _statement(store, brand),
        "aisle_order": _aisle_order(brand, location, guide.user, f"C-AISLE-{store.code}"),
    }


def _staff1_guide() -> Guide:
    from portal.guides import roster

    staff = db.session.execute(select(User).where(User.email == "staff1@demo.test")).scalar_one()
    guide = roster.guide_for(staff.id, org("S1").id, org("ACME").id)
    assert guide is not None
    return guide


def _status(statement_id: int) -> str:
    db.session.expire_all()
    return db.session.get(CommissionStatement, statement_id).status


def test_a_statement_is_read_by_its_store_and_guide_and_settled_by_hq_admin_only(app, login):
    guide = _staff1_guide()
    store_statement = _statement(org("S1"), org("ACME"))
    guide_statement = _statement(org("S1"), org("ACME"), guide)
    db.session.commit()
    owner = login("store1@demo.test")
    assert owner.get(f"/commission/statements/{store_statement}").status_code == 200
    assert owner.get(f"/commission/statements/{guide_statement}").status_code == 200
    assert owner.post(f"/commission/statements/{store_statement}/approve").status_code == 403
    paid = owner.post(f"/commission/statements/{store_statement}/paid", data={"reference": "x"})
    assert paid.status_code == 403
    staff = login("staff1@demo.test")
    assert staff.get(f"/commission/statements/{guide_statement}").status_code == 200
    assert staff.get(f"/commission/statements/{store_statement}").status_code == 404
    assert staff.post(f"/commission/statements/{guide_statement}/approve").status_code == 403
    assert staff.get("/commission/statements.xlsx").status_code == 403
    merchandiser = login("merch@demo.test")
    assert merchandiser.get(f"/commission/statements/{store_statement}").status_code == 200
    response = merchandiser.post(f"/commission/statements/{store_statement}/approve")
    assert response.status_code == 403
    assert _status(store_statement) == StatementStatus.DRAFT
    admin = login("hq@demo.test")
    assert admin.post(f"/commission/statements/{store_statement}/approve").status_code == 302
    assert _status(store_statement) == _status(guide_statement) == StatementStatus.APPROVED
    paid = admin.post(f"/commission/statements/{store_statement}/paid", data={"reference": "T1"})
    assert paid.status_code == 302
    assert _status(store_statement) == StatementStatus.PAID


def test_a_guide_is_managed_by_its_store_owner_and_its_brands_hq_only(app, login):
    guide = _staff1_guide()
    db.session.commit()
    for email, status in [
        ("staff1@demo.test", 403),  # their own store's guide: staff do not manage guides
        ("dist1@demo.test", 404),  # S1's supplier: guides are the store's and HQ's
        ("store2@demo.test", 404),
        ("hq2@demo.test", 404),
        ("merch@demo.test", 200),
        ("store1@demo.test", 200),
    ]:
        response = login(email).get(f"/guides/guide/{guide.id}")
        assert response.status_code == status, f"{email} -> {response.status_code}"
    client = login("store1@demo.test")
    assert client.post(f"/guides/store/{guide.id}/stop").status_code == 302
    db.session.expire_all()
    assert db.session.get(Guide, guide.id).status == GuideStatus.STOPPED


def test_an_aisle_order_is_shown_only_to_the_staff_member_who_placed_it(app, login):
    staff = db.session.execute(select(User).where(User.email == "staff1@demo.test")).scalar_one()
    shelf = db.session.execute(
        select(Location).where(Location.org_id == org("S1").id, Location.is_default.is_(True))
    ).scalar_one()
    number = _aisle_order(org("ACME"), shelf, staff, "C-AISLE-OWN")
    db.session.commit()
    page = login("staff1@demo.test").get(f"/shop-orders/aisle/{number}")
    assert page.status_code == 200 and number in page.get_data(as_text=True)
    for email in ("store1@demo.test", "hq@demo.test", "merch@demo.test"):
        assert login(email).get(f"/shop-orders/aisle/{number}").status_code == 404, email


def test_a_guide_link_opens_for_anyone_and_a_forged_one_records_nothing(app, client):
    from portal.guides import links, visits

    guide = _staff1_guide()
    token = links.make_token(guide, "home")
    db.session.commit()
    home = visits.target_path(org("ACME"), "home", "")
    forged = client.get(f"/shop/ACME/g/{token[:-2]}xx")
    assert forged.status_code == 302 and forged.headers["Location"].endswith(home)
    assert db.session.execute(select(func.count(GuideVisit.id))).scalar_one() == 0
    opened = client.get(f"/shop/ACME/g/{token}")
    assert opened.status_code == 302 and opened.headers["Location"].endswith(home)
    visits_of_guide = select(func.count(GuideVisit.id)).where(GuideVisit.guide_id == guide.id)
    assert db.session.execute(visits_of_guide).scalar_one() == 1
    # Another brand's shop does not take ACME's link.
    assert client.get(f"/shop/LUMI/g/{token}").status_code == 302
    assert db.session.execute(visits_of_guide).scalar_one() == 1


def test_a_stores_shop_is_open_to_anyone_only_while_it_is_on(app, client):
    """The demo's S1 sells through its own shop (portal/seed/guides.py); S2's is off."""
    from portal.storefront import store_shops
    from portal.storefront.auth import SESSION_KEY

    shop = store_shops.find_shop(org("ACME").id, org("S1").id)
    assert shop is not None and shop.is_enabled
    code = store_shops.list_shop_products(shop)[0].product.code
    secret, _address = _consumer_of("ACME")
    db.session.commit()
    pages = ["/shop/ACME/s/S1/", f"/shop/ACME/s/S1/p/{code}"]
    for url in pages:
        assert client.get(url).status_code == 200, url
    assert client.get("/shop/ACME/s/S1/p/NO-SUCH-CODE").status_code == 404
    assert client.get("/shop/ACME/s/S2/").status_code == 404  # S2's shop is off
    assert client.get("/shop/LUMI/s/S1/").status_code == 404  # S1 has no LUMI shop
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = {str(org("ACME").id): secret}
    assert client.get("/shop/ACME/s/S1/cart").status_code == 200
    assert client.get("/shop/ACME/s/S2/cart").status_code == 404
    store_shops.save_settings(
        actor_for("store1@demo.test"),
        org("ACME"),
        org("S1"),
        store_shops.ShopSettings(
            enabled=False, address=shop.address, latitude=shop.latitude, longitude=shop.longitude
        ),
    )
    db.session.commit()
    for url in [*pages, "/shop/ACME/s/S1/cart"]:
        assert client.get(url).status_code == 404, url


# -- end of guides and commission ----------------------------------------------------------------


# -- ordering pages (tests/ordering/test_views.py) -----------------------------------------------


def _foreign_template(buyer: Organization, brand: Organization) -> int:
    """An order template saved by an org the persona cannot see."""
    from portal.ordering.models import OrderTemplate

    template = OrderTemplate(brand_id=brand.id, buyer_org_id=buyer.id, name="foreign", lines=[])
    db.session.add(template)
    db.session.flush()
    return template.id


# -- end of ordering pages -----------------------------------------------------------------------


# -- replenishment pages (tests/replenishment/test_views.py) -------------------------------------


def _suggestion(buyer: Organization, brand: Organization, location: Location) -> int:
    """A suggested order for `buyer` (written directly: only who may see and act on it is
    under test)."""
    from datetime import date

    from portal.replenishment.models import Suggestion

    link = db.session.get(ChannelLink, _link_id(buyer, brand))
    suggestion = Suggestion(
        brand_id=brand.id,
        location_id=location.id,
        buyer_org_id=buyer.id,
        supplier_org_id=link.supplier_org_id,
        business_date=date(2000, 1, 3),
    )
    db.session.add(suggestion)
    db.session.flush()
    return suggestion.id


def _foreign_suggestion(buyer: Organization, brand: Organization, location: Location) -> int:
    return _suggestion(buyer, brand, location)


@pytest.mark.parametrize("email", ["dist1@demo.test", "hq@demo.test"])
@pytest.mark.parametrize("action", ["update", "submit", "dismiss"])
def test_a_suggestion_one_sees_but_does_not_buy_through_is_forbidden(app, login, email, action):
    """S1's supplier (D1) and HQ see S1's suggested order; only S1 orders or dismisses it."""
    buyer = org("S1")
    location = db.session.execute(
        select(Location).where(Location.org_id == buyer.id, Location.is_default.is_(True))
    ).scalar_one()
    suggestion_id = _suggestion(buyer, org("ACME"), location)
    db.session.commit()
    client = login(email)
    assert client.get(f"/replenishment/suggestions/{suggestion_id}").status_code == 200
    response = client.post(f"/replenishment/suggestions/{suggestion_id}/{action}", data={})
    assert response.status_code == 403


# -- end of replenishment pages ------------------------------------------------------------------


def _foreign_order(buyer: Organization, brand: Organization, destination: Location) -> str:
    """An order placed by an org the persona cannot see (written directly: only its visibility
    is under test)."""
    from portal.inventory.services import default_location
    from portal.ordering.models import Order

    link = db.session.get(ChannelLink, _link_id(buyer, brand))
    order = Order(
        number=f"{brand.code}-FOREIGN",
        brand_id=brand.id,
        buyer_org_id=buyer.id,
        supplier_org_id=link.supplier_org_id,
        link_id=link.id,
        status="submitted",
        currency="CNY",
        source_location_id=default_location(link.supplier).id,
        destination_location_id=destination.id,
    )
    db.session.add(order)
    db.session.flush()
    return order.number


# -- stock uploads (tests/inventory/test_upload.py) ----------------------------------------------


def _foreign_stock_upload(location: Location) -> int:
    """A stock file uploaded by the org holding `location`."""
    stock_upload = StockUpload(
        org_id=location.org_id,
        location_id=location.id,
        filename="x.csv",
        stored_path="stock-uploads/x.csv",
        sha256="0" * 64,
        status=UploadStatus.READY,
        errors=[{"row": 2, "column": "sku", "reason": "x"}],
        summary={"rows_changed": 1},
    )
    db.session.add(stock_upload)
    db.session.flush()
    return stock_upload.id


# -- end of stock uploads ------------------------------------------------------------------------


# -- finance (tests/finance/) ----------------------------------------------------------------------


def _link_id(buyer: Organization, brand: Organization) -> int:
    return db.session.execute(
        select(ChannelLink.id).where(
            ChannelLink.buyer_org_id == buyer.id, ChannelLink.brand_id == brand.id
        )
    ).scalar_one()


def _foreign_account(buyer: Organization, brand: Organization) -> int:
    """The channel link (the finance pages' address) of an org the persona cannot see, with an
    account and an entry, so the pages would have something to show."""
    from portal.finance import services as finance

    link = db.session.get(ChannelLink, _link_id(buyer, brand))
    finance.post_invoice(
        actor_for("hq2@demo.test" if brand.code == "LUMI" else "hq@demo.test"),
        finance.ensure_account(link),
        amount_cents=100,
        reference="shipment:x",
    )
    return link.id


@pytest.mark.parametrize(
    ("email", "buyer", "path"),
    [
        ("store1@demo.test", "S1", "payments"),  # the buyer itself
        ("buyer1@demo.test", "S1", "adjustments"),  # the supplier, a role without finance.manage
        ("hq@demo.test", "S1", "payments"),  # above the supplier: reads only
        ("dist1@demo.test", "D1", "payments"),  # D1's own account with ACME: ACME records
    ],
)
def test_an_account_one_may_read_but_not_record_on_is_forbidden(app, login, email, buyer, path):
    link_id = _link_id(org(buyer), org("ACME"))
    client = login(email)
    assert client.get(f"/accounts/{link_id}").status_code == 200
    assert client.post(f"/accounts/{link_id}/{path}", data={}).status_code == 403


# -- end of finance ------------------------------------------------------------------------------


def _open(client, email: str, method: str, url: str):
    """Pages with the session cookie; the API with a bearer token (cookies only read it)."""
    if url.startswith("/api/"):
        tokens = client.__dict__.setdefault("bearer_tokens", {})
        if email not in tokens:
            issued = client.post(
                "/api/v1/auth/token", json={"email": email, "password": "demo1234"}
            )
            tokens[email] = issued.get_json()["token"]
        headers = {"Authorization": f"Bearer {tokens[email]}"}
        return client.open(url, method=method, json={}, headers=headers)
    return client.open(url, method=method, data={})


@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_other_orgs_objects_are_not_found_for_every_role(app, login, persona):
    objects = _foreign(persona)
    db.session.commit()
    client = login(PERSONAS[persona])
    for method, pattern in OBJECT_ROUTES.values():
        url = pattern.format(**objects)
        response = _open(client, PERSONAS[persona], method, url)
        assert response.status_code == 404, f"{persona} {method} {url} -> {response.status_code}"


@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_plain_routes_follow_the_role_table(app, login, persona):
    client = login(PERSONAS[persona])
    role = Role(persona) if persona in Role.__members__.values() else Role.HQ_ADMIN
    granted = ROLE_PERMISSIONS[role]
    for endpoint, (method, url) in PLAIN_ROUTES.items():
        permission = route_access(app, endpoint)[1]
        response = _open(client, PERSONAS[persona], method, url)
        expected = PLAIN_ROUTE_ANSWERS.get(endpoint, {}).get(persona)
        if expected is not None:
            assert response.status_code == expected, f"{persona} {url} -> {response.status_code}"
        elif permission in granted:
            assert response.status_code not in (401, 403), f"{persona} {url}"
        else:
            assert response.status_code == 403, f"{persona} {url} -> {response.status_code}"


def test_signed_out_visitor_is_sent_to_login_or_gets_401(client):
    for method, url in PLAIN_ROUTES.values():
        response = client.open(url, method=method)
        if url.startswith("/api/"):
            assert response.status_code == 401
            assert response.get_json()["error"]["code"] == "unauthorized"
        else:
            assert response.status_code == 302
            assert "/login" in response.headers["Location"]


# -- consumer accounts ---------------------------------------------------------------------------


def _consumer_of(brand_code: str) -> tuple[str, int]:
    """A consumer of the brand with one address, and a live session secret of theirs."""
    from portal.storefront import consumers
    from portal.storefront.auth import start_session
    from portal.storefront.models import Consumer

    consumer = Consumer(brand_id=org(brand_code).id, phone="+8613800138000")
    db.session.add(consumer)
    db.session.flush()
    address = consumers.add_address(
        consumer,
        {
            "recipient": "Li Lei",
            "phone": "13800138000",
            "province": "Shanghai",
            "city": "Shanghai",
            "line": "1 Nanjing Road",
        },
    )
    secret, _expires = start_session(consumer)
    return secret, address.id


def _consumer_open(client, method: str, url: str, secret: str | None = None):
    if url.startswith("/api/"):
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return client.open(url, method=method, json={}, headers=headers)
    return client.open(url, method=method, data={})


def test_signed_out_visitor_is_sent_to_the_shops_sign_in_or_gets_401(app, client):
    _secret, address = _consumer_of("ACME")
    db.session.commit()
    for method, pattern in CONSUMER_ROUTES.values():
        url = pattern.format(brand="ACME", address=address)
        response = _consumer_open(client, method, url)
        if url.startswith("/api/"):
            assert response.status_code == 401, url
            assert response.get_json()["error"]["code"] == "unauthorized"
        else:
            assert response.status_code == 302, url
            assert response.headers["Location"].startswith("/shop/ACME/account/sign-in"), url


def test_a_consumer_of_one_brand_is_refused_on_another_brands_shop(app, client):
    from portal.storefront.auth import SESSION_KEY

    secret, address = _consumer_of("ACME")
    db.session.commit()
    # The browser holds ACME's session, even filed under LUMI's id by a tampered cookie.
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = {str(org("ACME").id): secret, str(org("LUMI").id): secret}
    assert _consumer_open(client, "GET", "/shop/ACME/account/").status_code == 200
    for method, pattern in CONSUMER_ROUTES.values():
        url = pattern.format(brand="LUMI", address=address)
        response = _consumer_open(client, method, url, secret)
        if url.startswith("/api/"):
            assert response.status_code == 401, url
        else:
            assert response.status_code == 302, url
            assert response.headers["Location"].startswith("/shop/LUMI/account/sign-in"), url
    me = client.get("/api/v1/shop/ACME/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.get_json()["phone"] == "+8613800138000"


def test_an_org_user_signed_in_to_the_portal_is_not_a_consumer(app, login):
    client = login("hq@demo.test")
    response = client.get("/shop/ACME/account/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/shop/ACME/account/sign-in")
    token = client.post(
        "/api/v1/auth/token", json={"email": "hq@demo.test", "password": "demo1234"}
    ).get_json()["token"]
    me = client.get("/api/v1/shop/ACME/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401


# -- end of consumer accounts --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "method", "url"),
    [
        ("staff1@demo.test", "POST", "/orgs/S1/suspend"),
        ("staff1@demo.test", "POST", "/orgs/S1/invite"),
        ("buyer1@demo.test", "POST", "/orgs/D1/invite"),
        ("buyer1@demo.test", "GET", "/orgs/S1/edit"),
        ("merch@demo.test", "POST", "/orgs/S1/suspend"),
        ("store1@demo.test", "GET", "/orgs/S1/edit"),
        ("staff1@demo.test", "POST", "/stock/S1-SHELF/adjust"),
        ("buyer1@demo.test", "POST", "/stock/D1-WH/count"),
        # Stock below one's org is read-only, whatever the role may do at home.
        ("hq@demo.test", "POST", "/stock/D1-WH/adjust"),
        ("dist1@demo.test", "POST", "/stock/S1-SHELF/damage"),
    ],
)
def test_own_object_but_role_lacks_the_action_is_forbidden(app, login, email, method, url):
    response = login(email).open(url, method=method, data={})
    assert response.status_code == 403


def test_api_key_scopes_limit_what_it_can_do(app, client):
    _key, token = create_api_key(actor_for("dist1@demo.test"), name="erp", scopes=["jobs.view"])
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    response = client.get("/api/v1/orgs", headers=headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


# -- API key scopes: every scope an org may give its keys, on every API route that needs it --

# An address each route can be reached at by HQ's key, with an empty body: past access the answer
# is a 200, 202 or 422 (never 401 or 403). {account} is D1's account with ACME, which HQ supplies.
API_SCOPE_ROUTES = {
    "api_finance.create_payment": ("POST", "/api/v1/accounts/{account}/payments"),
    "api_finance.create_adjustment": ("POST", "/api/v1/accounts/{account}/adjustments"),
    "api_replenishment.list_suggestions": ("GET", "/api/v1/replenishment/suggestions"),
    "api_replenishment.request_run": ("POST", "/api/v1/replenishment/runs"),
}
NEW_API_KEY_SCOPES = (
    Permission.FINANCE_MANAGE,
    Permission.REPLENISHMENT_VIEW,
    Permission.REPLENISHMENT_MANAGE,
)


def test_api_scope_matrix_lists_every_api_route_of_the_new_scopes(app):
    needing = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        and (route_access(app, rule.endpoint) or (None, None))[1] in NEW_API_KEY_SCOPES
    }
    assert needing == set(API_SCOPE_ROUTES), "add the route to API_SCOPE_ROUTES"


@pytest.mark.parametrize("scope", NEW_API_KEY_SCOPES)
def test_api_keys_reach_a_route_only_with_its_scope(app, client, scope):
    hq = actor_for("hq@demo.test")
    others = [s.value for s in api_key_scopes(OrgKind.BRAND) if s != scope]
    _key, without = create_api_key(hq, name="without", scopes=others)
    _key, with_it = create_api_key(hq, name="with", scopes=[scope.value])
    db.session.commit()
    account = _link_id(org("D1"), org("ACME"))
    routes = [
        (method, url.format(account=account))
        for endpoint, (method, url) in API_SCOPE_ROUTES.items()
        if route_access(app, endpoint)[1] == scope
    ]
    assert routes
    for method, url in routes:
        refused = client.open(url, method=method, json={}, headers=_bearer(without))
        assert refused.status_code == 403, f"{scope} {method} {url}"
        error = refused.get_json()["error"]
        assert error["code"] == "forbidden" and set(error) == {"code", "message", "fields"}
        allowed = client.open(url, method=method, json={}, headers=_bearer(with_it))
        assert allowed.status_code in (200, 202, 422), f"{scope} {method} {url}"


def test_a_key_never_holds_more_than_its_orgs_admin_role(app, client, login):
    """A store owner may not record payments: its key cannot be given finance.manage, and a key
    whose stored scopes say otherwise does not get it."""
    store = actor_for("store1@demo.test")
    assert Permission.FINANCE_MANAGE not in api_key_scopes(OrgKind.STORE)
    with pytest.raises(ValidationFailed) as refused:
        create_api_key(store, name="pos", scopes=["finance.manage"])
    assert "scopes" in refused.value.fields
    key, token = create_api_key(store, name="pos", scopes=["finance.view"])
    key.scopes = ["finance.view", "finance.manage"]  # written past the service
    db.session.commit()
    me = client.get("/api/v1/me", headers=_bearer(token)).get_json()
    assert "finance.view" in me["scopes"] and "finance.manage" not in me["scopes"]
    page = login("store1@demo.test").get("/settings/api-keys").get_data(as_text=True)
    assert 'value="replenishment.manage"' in page and 'value="finance.manage"' not in page


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- end of API key scopes --


def test_permissions_are_all_granted_to_hq_admin_only():
    assert ROLE_PERMISSIONS[Role.HQ_ADMIN] == frozenset(Permission)
    others = [p for r, p in ROLE_PERMISSIONS.items() if r != Role.HQ_ADMIN]
    assert all(Permission.JOBS_ADMIN not in p for p in others)


def test_link_paths_are_rooted_at_their_brand(app):
    for link in db.session.execute(select(ChannelLink)).scalars():
        assert link.path.startswith(f"/{link.brand_id}/")
        assert link.path.endswith(f"/{link.buyer_org_id}/")
