"""`commandcenter open`: the gateway's dashboard address, opened in a browser when there is a
screen to show it on."""

from __future__ import annotations

import os
import sys
import webbrowser
from collections.abc import Callable, Mapping

from commandcenter.gateway_client import path_part


def dashboard_url(gateway: str, run_id: str | None = None) -> str:
    """The runs list (`<gateway>/`), or one run's page (`<gateway>/runs/<id>`)."""
    base = gateway.rstrip("/")
    return f"{base}/runs/{path_part(run_id)}" if run_id else f"{base}/"


def display_available(
    environ: Mapping[str, str] | None = None, platform: str = sys.platform
) -> bool:
    """Whether a browser could show a page here: always on macOS and Windows; elsewhere only
    with an X11 or Wayland display (not over plain SSH, not in CI, not in a container)."""
    if platform == "darwin" or platform.startswith("win"):
        return True
    environ = os.environ if environ is None else environ
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def open_in_browser(
    url: str,
    *,
    environ: Mapping[str, str] | None = None,
    opener: Callable[[str], bool] = webbrowser.open,
) -> bool:
    """Open `url` when a display is available; whether a browser took it."""
    if not display_available(environ):
        return False
    try:
        return opener(url)
    except webbrowser.Error:
        return False
