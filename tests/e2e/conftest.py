"""Browser tests: the real app served over HTTP on a seeded SQLite file, driven by Chromium.

Unlike the rest of the suite there is no per-test rollback (the server runs in another thread
with its own connections), so tests here share one database for the session: use fresh codes
when creating things and do not rely on what other browser tests changed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from portal import create_app
from portal.extensions import db
from tests.conftest import need
from tests.support.browser import CHROMIUM_ARGS, chromium_path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 10_000  # generous: CI machines are busy


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Test modules here also set pytestmark; this covers any that forget.
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@contextmanager
def serve_portal(db_path: Path, **overrides) -> Iterator[str]:
    """Create, seed and serve the app; yield its base URL. Shuts everything down on exit."""
    config = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
        "REDIS_URL": None,
        # Testing turns CSRF off; the browser exercises the forms as production does.
        "WTF_CSRF_ENABLED": True,
    }
    config.update(overrides)
    app = create_app("testing", **config)
    with app.app_context():
        db.create_all()
        from portal.seed.demo import seed_demo

        seed_demo()
        from portal.core.jobs import commit

        commit()  # and run the inline jobs it asked for (policy delivery)
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # Addresses the app writes out absolute (the test gateway's pay page) must reach this server,
    # whose port is known only now.
    app.config["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_portal(tmp_path_factory.mktemp("e2e-db") / "portal.db") as base_url:
        yield base_url


@pytest.fixture(scope="session")
def browser():
    need("chromium")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)  # assertions wait as long as actions do

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, request: pytest.FixtureRequest):
    """A fresh context (cookies, locale en-US) per test; a screenshot when the test fails."""
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            # A screenshot that cannot be taken must not hide the test's own failure.
            with suppress(Exception):
                page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        context.close()


@pytest.fixture
def sign_in(page, live_server: str):
    """sign_in("hq@demo.test") signs the page in through the login form; lands on home."""

    def do_sign_in(email: str, password: str = "demo1234"):
        page.goto(live_server + "/login")
        page.fill('input[name="email"]', email)
        page.fill('input[name="password"]', password)
        page.click('main form button[type="submit"]')
        page.wait_for_url(live_server + "/")
        return page

    return do_sign_in
