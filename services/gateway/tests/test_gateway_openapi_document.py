"""The OpenAPI document is the same in every gateway process, and making it loads no example
factory: litestar's generated examples are random (a client generating its SDK twice would
get two documents), and they load polyfactory and faker, which doubled a gateway's memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys

_DOCUMENT = """
import json, os, sys
from gateway.app import create_app
from gateway.settings import Settings
app = create_app(Settings.from_env())
document = app.openapi_schema.to_schema()
loaded = sorted(m for m in ("polyfactory", "faker") if m in sys.modules)
print(json.dumps({"document": document, "loaded": loaded}))
"""


def _document() -> dict[str, object]:
    env = {**os.environ, "CC_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    out = subprocess.run(  # noqa: S603 - our own code, no input
        [sys.executable, "-c", _DOCUMENT], env=env, capture_output=True, check=True, timeout=120
    ).stdout
    made: dict[str, object] = json.loads(out)
    return made


def test_the_document_is_the_same_in_every_process_and_loads_no_example_factory() -> None:
    first, second = _document(), _document()
    assert first["loaded"] == []
    assert first["document"] == second["document"]
    paths = first["document"]["paths"]  # type: ignore[index]
    assert "/api/v1/runs/{run_id}" in paths
