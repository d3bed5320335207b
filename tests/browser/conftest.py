"""Browser tests: Playwright for Python driving Debian's Chromium, headless.

``playwright install`` cannot download browsers on our machines, so the browser is the
system one (``/usr/bin/chromium``, installed by ``make sysdeps``; ``INTERLOCK_CHROMIUM``
overrides the path). Every test gets a fresh browser context; when a test fails, a
screenshot of each of its pages is written to ``var/screenshots/<test name>-<n>.png``.

The pages are served by pytest-django's ``live_server`` (a real HTTP server in a thread,
on a transactional database), and the demo users of ``fixtures/demo`` are loaded with
``seed_demo`` so that a test logs in exactly as a person would.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# between browser steps are still synchronous and on their own connection.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("INTERLOCK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("INTERLOCK_VAR_DIR", "var")).parent / "screenshots"
DEMO_PASSWORD = "interlock-demo"

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


# Module scope, not session: Playwright's sync API keeps an event loop running in the test
# thread while it is open, and tests of other modules in the same xdist worker (the lean
# ASGI path's) call asyncio.run(), which refuses to start inside a running loop.
@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: run `make sysdeps` (Debian package chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        yield browser
        browser.close()


@pytest.fixture
def context(browser, request):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    context.set_default_timeout(15_000)
    yield context
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        for n, pg in enumerate(context.pages):
            # A screenshot that cannot be taken must never hide the test's own failure.
            with contextlib.suppress(Exception):
                pg.screenshot(path=str(SCREENSHOTS / f"{name}-{n}.png"), full_page=True)
    context.close()


@pytest.fixture
def page(context):
    return context.new_page()


@pytest.fixture
def demo_users(transactional_db):
    """The demo plants, master data and one login per role (``fixtures/demo``)."""
    from django.core.management import call_command

    call_command("seed_demo", verbosity=0)


@pytest.fixture
def login(live_server, demo_users, context):
    """``login(username) -> page``: a new page logged in to the admin as that demo user."""

    def _login(username: str, password: str = DEMO_PASSWORD):
        pg = context.new_page()
        pg.goto(f"{live_server.url}/admin/login/?next=/admin/")
        pg.fill("#id_username", username)
        pg.fill("#id_password", password)
        pg.click("input[type=submit]")
        pg.wait_for_url(re.compile(r".*/admin/$"))
        return pg

    return _login


@pytest.fixture
def shot():
    """``shot(page, name)``: keep a screenshot under var/screenshots for a person to look at."""

    def _shot(pg, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        return path

    return _shot
