#!/usr/bin/env bash
# Offline validation of docker-compose.yml, k8s/ and deploy/Dockerfile.
#
#   deploy/validate.sh                      # everything (what CI and tests/deploy run)
#   deploy/validate.sh all --with-uv-sync   # + replay the Dockerfile's `uv sync` per service
#   deploy/validate.sh compose FILE...      # one or more compose files
#   deploy/validate.sh k8s DIR|FILE...      # a manifest tree (schemas, KEDA, policy) or files
#   deploy/validate.sh dockerfile FILE
#
# The validators live in their own environment, .tools-venv at the repository root (override
# with CC_TOOLS_VENV), never in the project's .venv. It is created on first use from the pinned
# deploy/tools-requirements.txt (PyPI only) and re-created when that file changes.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CC_TOOLS_VENV:-$root/.tools-venv}"
reqs="$root/deploy/tools-requirements.txt"
stamp="$venv/.cc-tools-requirements.sha256"
want="$(sha256sum "$reqs" | cut -d' ' -f1)"

needs_install() { [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; }

if needs_install; then
    # Two runs at once (parallel test sessions) must not build the same venv together.
    if command -v flock >/dev/null 2>&1; then
        exec 9>"${TMPDIR:-/tmp}/cc-tools-venv-$(printf '%s' "$venv" | sha256sum | cut -c1-16).lock"
        flock 9
    fi
fi
if needs_install; then
    echo "deploy/validate.sh: installing the validators into $venv (once)" >&2
    python="$(command -v python3)"
    if command -v uv >/dev/null 2>&1; then
        UV_PYTHON_DOWNLOADS=never uv venv -q --clear --python "$python" "$venv"
        uv pip install -q --python "$venv/bin/python" -r "$reqs"
    else
        rm -rf "$venv"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$reqs"
    fi
    echo "$want" >"$stamp"
fi

exec "$venv/bin/python" "$root/deploy/validate.py" "$@"
