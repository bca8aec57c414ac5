"""`CC_ALLOWED_ROOTS` for the stacks tests start: their plans and repositories live in
pytest's temporary folders, which the gateway must be allowed to read."""

from __future__ import annotations

from pathlib import Path


def pytest_roots(path: Path) -> dict[str, str]:
    """The environment allowing this pytest run's base folder (it holds every test's
    temporary folders), found above `path`; else `path`'s parent."""
    for folder in (path, *path.parents):
        if folder.name.startswith("pytest-") and not folder.name.startswith("pytest-of-"):
            return {"CC_ALLOWED_ROOTS": str(folder)}
    return {"CC_ALLOWED_ROOTS": str(path.parent)}
