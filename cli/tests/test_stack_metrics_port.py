"""A service's `/metrics` port is chosen free but not reserved: when another process took it
before the service listened, the stack starts the service again on a new port."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from commandcenter.servers import port_is_free
from commandcenter.stack import ServiceSpec, Stack, Supervised

from tests.support.polling import eventually_sync

pytestmark = pytest.mark.integration


def test_a_service_whose_metrics_port_was_taken_gets_a_new_one(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "cc", say=lambda _: None)
    stack.data_dir.mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        env = {"CC_METRICS_PORT": port, "CC_METRICS_HOST": "127.0.0.1"}
        sup = Supervised(ServiceSpec("planner", "planner", env), tmp_path / "planner.log")
        stack.services.append(sup)
        stack._spawn(sup)  # the real service: it says why it stops in its own words
        assert sup.process is not None
        eventually_sync(lambda: sup.process.poll() is not None, what="the planner stopping")

        assert stack._new_metrics_port_if_taken(sup)
        new = sup.spec.env["CC_METRICS_PORT"]
        assert new != port and port_is_free(int(new))
        assert sup.spec.metrics_url == f"http://127.0.0.1:{new}/metrics"
        assert stack.metrics_urls["planner"] == sup.spec.metrics_url


def test_a_service_that_stopped_for_another_reason_keeps_its_port(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "cc", say=lambda _: None)
    log = tmp_path / "planner.log"
    log.write_text("not starting: CC_NATS_URL: not a URL\n")
    env = {"CC_METRICS_PORT": "40001"}
    sup = Supervised(ServiceSpec("planner", "planner", env), log)
    assert not stack._new_metrics_port_if_taken(sup)
    assert sup.spec.env["CC_METRICS_PORT"] == "40001"
