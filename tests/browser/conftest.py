"""The whole stack once per module, and Debian's chromium driven by Playwright (never a
downloaded browser build: `make chromium` installs it with apt)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from commandcenter.stack import Stack
from playwright.sync_api import Browser, Page, StorageState, expect, sync_playwright

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


def sign_in(page: Page, token: str) -> None:
    """Through the sign-in page, as a person does: the dashboard sends them there."""
    page.goto("/dead-letters")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Fdead-letters$"))
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dead-letters$"))  # back where they were going
    expect(page.locator("#account")).to_contain_text("signed in as admin")


@pytest.fixture(scope="module")
def signed_in(browser: Browser, stack: Stack) -> StorageState:
    """The session cookie of one sign-in through the page, for every test's fresh context."""
    context = browser.new_context(base_url=stack.gateway_url, viewport=WIDE)
    sign_in(context.new_page(), stack.admin_token())
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture
def page(browser: Browser, stack: Stack, signed_in: StorageState) -> Iterator[Page]:
    """A fresh browser context at 1280 px, signed in; the test fails if a script of the page
    threw."""
    context = browser.new_context(
        base_url=stack.gateway_url, viewport=WIDE, storage_state=signed_in
    )
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"the page's scripts failed: {errors}"
