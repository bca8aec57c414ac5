"""The whole stack once per module, and Debian's chromium driven by Playwright (never a
downloaded browser build: `make chromium` installs it with apt)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from commandcenter.stack import Stack
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.helpers import running_stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # as root in a container
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
WIDE = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("stack")
    with running_stack(
        data_dir,
        local_executors=2,
        dagger_executors=0,
        extra_env={"CC_ACK_WAIT_S": "30", "CC_CLAUDE_BIN": str(data_dir / "no-such-claude")},
        say=lambda _: None,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make chromium` installs Debian's build"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    """A fresh browser context at 1280 px; the test fails if a script of the page threw."""
    context = browser.new_context(base_url=stack.gateway_url, viewport=WIDE)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"the page's scripts failed: {errors}"
