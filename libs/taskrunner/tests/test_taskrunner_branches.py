"""Branch names come from messages: git must accept them and they must not look like options."""

from __future__ import annotations

import pytest
from cc_taskrunner import GitError, check_branch_name, slugify
from cc_taskrunner.branches import workspace_dir_name


@pytest.mark.parametrize(
    "name", ["cc/1234abcd/4-1-2-create-config", "cc/run/task_1.2", "feature/x-y"]
)
def test_valid_branch_names_pass(name: str) -> None:
    assert check_branch_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "-rf",
        "--upload-pack=touch /tmp/x",
        "cc/run/has space",
        "cc/run/$(touch x)",
        "cc/run/a..b",
        "cc/run/a~1",
        "cc/run/a^b",
        "cc/run/a:b",
        "cc/run/a?b",
        "cc/run/a*b",
        "cc/run/a[b",
        "cc/run/ends.lock",
        "cc/run/ends/",
        "cc//double",
        "cc/run/@{-1}",
        "cc/run/new\nline",
        "cc/run/back\\slash",
    ],
)
def test_odd_branch_names_are_rejected(name: str) -> None:
    with pytest.raises(GitError, match="invalid branch name"):
        check_branch_name(name)


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("4.1.2 Create Config Validation Service", "4.1.2-create-config-validation-service"),
        ("Fix `$(touch /tmp/pwned)`; rm -rf /", "fix-touch-tmp-pwned-rm-rf"),
        ("Ünïcödé — names!", "unicode-names"),
        ("a..b...c", "a-b-.c"),
        ("name.lock", "name"),
        ("---", ""),
    ],
)
def test_slugify_makes_safe_components(text: str, slug: str) -> None:
    assert slugify(text) == slug
    if slug:
        assert check_branch_name(f"cc/run/{slug}")


def test_workspace_folder_follows_the_branch() -> None:
    run = "1234abcd-0000"
    assert workspace_dir_name("cc/1234abcd/1-1-alpha", run, "t") == "1-1-alpha"
    assert workspace_dir_name("other/x/y", run, "t") == "other-x-y"
    assert workspace_dir_name("cc/1234abcd/...", run, "task-id") == "task-id"


def test_the_package_exports_resolve_lazily() -> None:
    import cc_taskrunner

    assert set(cc_taskrunner.__all__) == set(cc_taskrunner._EXPORTS)
    for name in cc_taskrunner.__all__:
        assert getattr(cc_taskrunner, name) is not None
