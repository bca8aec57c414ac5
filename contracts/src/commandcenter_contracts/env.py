"""Reading settings from `CC_…` environment variables: the one reader every service uses.

    env = Env(os.environ)
    port = env.whole("CC_GATEWAY_PORT", 8001, low=0, high=65535)
    timeout = env.number("CC_GIT_TIMEOUT_S", 300.0, positive=True)

An unset or blank variable is its default; a value that cannot be used is a `SettingsError`
naming the variable and what it must be, raised when the service starts, never later. Plain
data in, plain values out: no I/O here (the mapping is passed in).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

N = TypeVar("N", int, float)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SettingsError(ValueError):
    """An environment variable has a value the service cannot use."""


class Env:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def get(self, name: str) -> str | None:
        """The trimmed value, or None when unset or blank."""
        return self._environ.get(name, "").strip() or None

    def text(self, name: str, default: str) -> str:
        return self.get(name) or default

    def number(
        self,
        name: str,
        default: float,
        *,
        low: float | None = None,
        high: float | None = None,
        positive: bool = False,
    ) -> float:
        value = self._parsed(name, float, "a number")
        if value is None:
            return default
        return self._in_range(name, value, low=low, high=high, positive=positive)

    def whole(
        self,
        name: str,
        default: int,
        *,
        low: int | None = None,
        high: int | None = None,
        positive: bool = False,
    ) -> int:
        value = self._parsed(name, int, "a whole number")
        if value is None:
            return default
        return int(self._in_range(name, value, low=low, high=high, positive=positive))

    def path(self, name: str, default: Path | str) -> Path:
        return Path(self.get(name) or default).expanduser()

    def optional_path(self, name: str) -> Path | None:
        raw = self.get(name)
        return Path(raw).expanduser() if raw else None

    def names(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """Comma- or space-separated environment variable names."""
        raw = self._environ.get(name)
        if raw is None:
            return default
        found = tuple(part for part in raw.replace(",", " ").split() if part)
        for item in found:
            if not _NAME.match(item):
                raise SettingsError(f"{name}: {item!r} is not an environment variable name")
        return found

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self.get(name) or default).lower()
        if value not in choices:
            raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def _parsed(self, name: str, kind: type[N], what: str) -> N | None:
        raw = self.get(name)
        if raw is None:
            return None
        try:
            return kind(raw)
        except ValueError:
            raise SettingsError(f"{name} must be {what}, got {raw!r}") from None

    @staticmethod
    def _in_range(
        name: str, value: float, *, low: float | None, high: float | None, positive: bool
    ) -> float:
        if positive and value <= 0:
            raise SettingsError(f"{name} must be positive, got {value:g}")
        if low is not None and value < low:
            raise SettingsError(f"{name} must be at least {low:g}, got {value:g}")
        if high is not None and value > high:
            raise SettingsError(f"{name} must be at most {high:g}, got {value:g}")
        return value
