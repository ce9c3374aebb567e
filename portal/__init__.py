"""The channel portal: a brand's ordering and enablement portal for its whole sales network."""

from __future__ import annotations

import os
from typing import Any

from apiflask import APIFlask
from flask import g, request, session

from config import BASE_DIR, INSTANCE_DIR, Config, config_for, normalize_database_url
from portal.extensions import babel, csrf, db, login_manager, migrate

DEV_SECRET = Config.SECRET_KEY


def _tune_postgresql(app: APIFlask) -> None:
    """PostgreSQL's JIT compiles a query when its cost estimate is high; for the catalog's
    correlated EXISTS that took 330 ms to save 5 (bench/). Short OLTP queries never gain."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        return
    options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    connect_args = dict(options.get("connect_args", {}))
    connect_args["options"] = f"{connect_args.get('options', '')} -c jit=off".strip()
    # TCP keepalives: a worker host that vanishes mid-transaction (power, network) releases its
    # locks within about a minute instead of the kernel's two hours, so its job can be taken over.
    for name, value in (
        ("keepalives", 1),
        ("keepalives_idle", 30),
        ("keepalives_interval", 10),
        ("keepalives_count", 3),
    ):
        connect_args.setdefault(name, value)
    options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def create_app(config: str | type[Config] | None = None, **overrides: Any) -> APIFlask:
    config_class = config if isinstance(config, type) else config_for(config)
    app = APIFlask(
        __name__,
        title="Channel portal API",
        version="1",
        spec_path="/api/v1/openapi.json",
        docs_path=None,  # the bundled docs UI loads its assets from a CDN; the spec is enough
        json_errors=False,
        instance_path=str(INSTANCE_DIR),
    )
    app.config.from_object(config_class)
    app.config.update(overrides)
    app.config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    _tune_postgresql(app)
    _check_production(app)
    os.makedirs(app.instance_path, exist_ok=True)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), compare_type=True)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)

    _register_models()
    from portal.core import access, errors, inputs, jobs, transaction
    from portal.core import db as core_db

    core_db.init_app(app)  # first: it decides how the request's transaction begins
    errors.init_app(app)
    from portal.auth.web import load_request_actor

    access.init_app(app, load_request_actor)
    # After the actor is known (an error page shows the signed-in layout), before the
    # blueprints (their `<int:...>` rules use its converter).
    inputs.init_app(app)
    transaction.init_app(app, after_commit=jobs.run_inline_pending)
    _register_blueprints(app)
    _register_templating(app)
    _register_security_headers(app)
    _register_cli(app)
    app.security_schemes = {"BearerAuth": {"type": "http", "scheme": "bearer"}}
    return app


def _check_production(app: APIFlask) -> None:
    if app.config["PORTAL_ENV"] != "production":
        return
    if not os.environ.get("SECRET_KEY") and app.config["SECRET_KEY"] == DEV_SECRET:
        raise RuntimeError("SECRET_KEY must be set when PORTAL_ENV=production")
    if len(app.config["SECRET_KEY"]) < 32:
        raise RuntimeError("SECRET_KEY must be at least 32 characters in production")


def _register_models() -> None:
    # Every model module, so metadata (and Alembic) sees the whole schema.
    import portal.auth.jobs  # noqa: F401 - job functions register themselves
    import portal.auth.models  # noqa: F401
    import portal.campaigns.group_jobs  # noqa: F401 - job functions register themselves
    import portal.campaigns.models  # noqa: F401
    import portal.campaigns.task_jobs  # noqa: F401
    import portal.catalog.jobs  # noqa: F401
    import portal.catalog.models  # noqa: F401
    import portal.core.audit  # noqa: F401
    import portal.core.idempotency  # noqa: F401
    import portal.core.jobs  # noqa: F401
    import portal.finance.models  # noqa: F401
    import portal.guides.jobs  # noqa: F401 - job functions register themselves
    import portal.guides.jobs_split  # noqa: F401
    import portal.guides.models  # noqa: F401
    import portal.inventory.jobs  # noqa: F401
    import portal.inventory.models  # noqa: F401
    import portal.members.level_jobs  # noqa: F401
    import portal.members.models  # noqa: F401
    import portal.members.points_jobs  # noqa: F401
    import portal.members.sale_jobs  # noqa: F401
    import portal.members.sale_models  # noqa: F401
    import portal.network.models  # noqa: F401
    import portal.ordering.jobs  # noqa: F401
    import portal.ordering.models  # noqa: F401
    import portal.policy.jobs  # noqa: F401
    import portal.policy.models  # noqa: F401
    import portal.replenishment.jobs  # noqa: F401
    import portal.replenishment.models  # noqa: F401
    import portal.storefront.identity_models  # noqa: F401
    import portal.storefront.jobs  # noqa: F401
    import portal.storefront.models  # noqa: F401
    import portal.storefront.payments.jobs  # noqa: F401 - with its models
    import portal.storefront.store_shop_models  # noqa: F401
    from portal.campaigns import plugs as campaign_plugs
    from portal.guides import plugs as guide_plugs
    from portal.members import plugs
    from portal.storefront import wechat_accounts

    wechat_accounts.plug()  # erasing a consumer forgets their WeChat identities
    plugs.register()  # the members' rules into the storefront's hooks
    guide_plugs.register()  # then the guides': they run after the members' steps
    campaign_plugs.register()  # then the campaigns': after both


def _register_blueprints(app: APIFlask) -> None:
    from portal.auth import api as auth_api
    from portal.auth import views as auth_views
    from portal.campaigns import plugs as campaign_plugs
    from portal.catalog import views as catalog_views
    from portal.core import api as core_api
    from portal.core import views as core_views
    from portal.finance import api as finance_api
    from portal.finance import views as finance_views
    from portal.guides import commission_views, guide_views, link_views, split_views
    from portal.inventory import api as inventory_api
    from portal.inventory import views as inventory_views
    from portal.members import api as members_api
    from portal.members import (  # noqa: F401 - their routes join members_api.bp
        coupon_api,
        coupon_views,
        employee_api,
        employee_views,
        member_api,
        member_views,
        points_api,
        sale_views,
        wallet_views,
    )
    from portal.network import api as network_api
    from portal.network import views as network_views
    from portal.ordering import api as ordering_api
    from portal.ordering import push_views
    from portal.ordering import views as ordering_views
    from portal.policy import api as policy_api
    from portal.policy import views as policy_views
    from portal.replenishment import api as replenishment_api
    from portal.replenishment import views as replenishment_views
    from portal.storefront import (
        aisle_views,
        hq_order_views,  # noqa: F401 - its routes join staff_views.bp
        shop_browse_api,  # noqa: F401 - its routes join api_shop
        shop_order_api,  # noqa: F401 - its routes join api_shop
        shop_return_api,  # noqa: F401 - its routes join api_shop
        staff_return_views,  # noqa: F401 - its routes join staff_views.bp
        staff_views,
        store_shop_admin_views,
        wechat_api,
        wechat_views,
    )
    from portal.storefront import api as shop_api
    from portal.storefront import feed_api as shop_feed_api
    from portal.storefront import views as storefront_views

    blueprints = (
        core_views.bp,
        auth_views.bp,
        network_views.bp,
        catalog_views.bp,
        policy_views.bp,
        inventory_views.bp,
        ordering_views.bp,
        push_views.bp,
        finance_views.bp,
        replenishment_views.bp,
        storefront_views.bp,
        wechat_views.bp,
        staff_views.bp,
        member_views.bp,
        wallet_views.bp,
        coupon_views.bp,
        employee_views.bp,
        sale_views.bp,
        store_shop_admin_views.bp,
        aisle_views.bp,
        guide_views.bp,
        link_views.bp,
        commission_views.bp,
        split_views.bp,
        core_api.bp,
        auth_api.bp,
        network_api.bp,
        policy_api.bp,
        inventory_api.bp,
        ordering_api.bp,
        finance_api.bp,
        replenishment_api.bp,
        shop_api.bp,
        wechat_api.bp,
        shop_feed_api.bp,
        members_api.bp,
        link_views.api_bp,
        *campaign_plugs.blueprints(),
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
        if blueprint.name.startswith("api_"):
            csrf.exempt(blueprint)  # bearer tokens, and cookies only for reads
    from portal.core.access import public

    public(app.view_functions["openapi.spec"])


def _select_locale() -> str:
    from flask import current_app

    languages = current_app.config["LANGUAGES"]
    actor = g.get("actor")
    if actor is not None and actor.locale in languages:
        return actor.locale
    if session.get("lang") in languages:
        return session["lang"]
    if request.path.startswith("/shop/"):
        return "zh_Hans_CN"  # consumers: Chinese until they choose
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"])
    return "zh_Hans_CN" if best in ("zh-CN", "zh") else "en"


def _register_templating(app: APIFlask) -> None:
    from flask_babel import format_date, format_datetime, get_locale

    from portal.core.access import Permission
    from portal.core.money import format_money, format_percent

    app.jinja_env.globals.update(
        format_money=format_money,
        format_percent=format_percent,
        format_datetime=format_datetime,
        format_date=format_date,
        Permission=Permission,
    )

    @app.context_processor
    def inject() -> dict[str, Any]:
        locale = str(get_locale() or "en")
        actor = g.get("actor")
        unread = 0
        if actor is not None and actor.org_id is not None:
            from portal.policy.queries import count_unread

            unread = count_unread(actor)
        return {
            "actor": actor,
            "unread_count": unread,
            "html_lang": "zh-CN" if locale.startswith("zh") else "en",
            "current_locale": locale,
        }


def _register_security_headers(app: APIFlask) -> None:
    csp = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    )

    @app.after_request
    def headers(response):
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if app.config["SESSION_COOKIE_SECURE"]:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response


def _register_cli(app: APIFlask) -> None:
    from portal.inventory.cli import inventory_cli
    from portal.members.cli import members_cli
    from portal.seed import seed_cli

    app.cli.add_command(seed_cli)
    app.cli.add_command(inventory_cli)
    app.cli.add_command(members_cli)
