"""Where a file named by a task may be written: inside the checkout, never in `.git`."""

from __future__ import annotations

from pathlib import Path, PurePosixPath


class UnsafePath(ValueError):
    pass


def checked_relative(relative: str) -> PurePosixPath:
    """`relative` as a path inside a checkout, refused if it could leave it (no file system)."""
    if not relative or "\x00" in relative or "\\" in relative:
        raise UnsafePath("not a usable relative path")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or relative.startswith("~"):
        raise UnsafePath("absolute paths are not allowed")
    if ".." in pure.parts:
        raise UnsafePath("'..' is not allowed")
    if ".git" in pure.parts:
        raise UnsafePath("writing inside .git is not allowed")
    return pure


def safe_target(root: Path, relative: str) -> Path:
    """`root / relative` on this machine: `checked_relative`, and no symbolic link leading out."""
    pure = checked_relative(relative)
    real_root = root.resolve()
    target = root.joinpath(*pure.parts)
    if not target.resolve().is_relative_to(real_root):
        raise UnsafePath("it leads outside the workspace through a symbolic link")
    if target.is_dir():
        raise UnsafePath("it is a directory")
    return target
