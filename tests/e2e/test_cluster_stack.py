"""The stack beyond one nats-server: `up --nats-cluster 3` (three nodes on loopback, every
stream and bucket replicated three times) and `up --nats-url` (a NATS the stack is given and
does not start). A real plan runs through each; `/ready` and `preflight` show the cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cc_bus.permissions import OPERATOR, SERVICE_USERS
from commandcenter.gitfixtures import git
from commandcenter.main import main
from commandcenter.servers import NatsCluster, NatsServer, ServerError
from commandcenter.stack import STATE_FILE

from tests.e2e.helpers import (
    api_client,
    create_task,
    plan_text,
    running_stack,
    sandbox_with_plan,
    start_run,
    wait_for_run,
)
from tests.support.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

ENV = {"CC_ACK_WAIT_S": "30", "CC_CLAUDE_BIN": "/nonexistent/claude"}


def _plan(root: Path) -> tuple[Path, Path]:
    text = plan_text(
        [create_task("1.1", "a.txt", "alpha"), create_task("1.2", "b.txt", "beta")],
        [create_task("2.1", "c.txt", "gamma", verify="test -s a.txt")],
    )
    sandbox, plan = sandbox_with_plan(root, text)
    return sandbox.remote, plan


def test_a_run_on_a_three_node_cluster_with_every_stream_replicated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remote, plan = _plan(tmp_path / "git")
    with running_stack(
        tmp_path / "stack", nats_cluster=3, dagger_executors=0, extra_env=ENV
    ) as stack:
        assert isinstance(stack.nats, NatsCluster)
        assert [node.name for node in stack.nats_nodes] == ["n1", "n2", "n3"]
        recorded = json.loads((stack.data_dir / STATE_FILE).read_text())["processes"]
        assert [p["name"] for p in recorded if p["name"].startswith("nats-server")] == [
            "nats-server n1",
            "nats-server n2",
            "nats-server n3",
        ]
        with api_client(stack) as client:
            run_id = start_run(client, plan, start_batch="1", end_batch="2", agent="plan-follower")
            view = wait_for_run(client, run_id)
            assert view["status"] == "succeeded", view
            branch = view["integration_branch"]
            files = git(remote, "ls-tree", "--name-only", branch).split()
            assert {"a.txt", "b.txt", "c.txt"} <= set(files)

            def replicated() -> dict[str, object] | None:
                ready = client.get("/ready")
                body: dict[str, object] = ready.json()
                streams = body["jetstream"]["streams"]  # type: ignore[index]
                every = all(s["replicas"] == 3 and s["state"] == "ok" for s in streams)
                return body if ready.status_code == 200 and every else None

            ready = eventually_sync(replicated, within_s=60, what="every stream R3 and ok")
            meta = ready["jetstream"]["meta"]
            assert meta["leader"] in ("n1", "n2", "n3") and meta["cluster_size"] == 3

        assert main(["preflight", "--gateway", stack.gateway_url, "--agent", "plan-follower"]) == 0
        said = capsys.readouterr().out
        assert f"ok  jetstream      meta leader {meta['leader']}, 3 node(s)" in said
        tasks_line = next(line for line in said.splitlines() if "stream CC_TASKS" in line)
        assert tasks_line.startswith("ok ") and "R3 leader n" in tasks_line, tasks_line


def test_up_uses_a_nats_it_is_given_and_starts_none(tmp_path: Path) -> None:
    users = {user: f"pw-{user}" for user in (*SERVICE_USERS, OPERATOR)}
    given = NatsServer(tmp_path / "their-nats", users=users).start()
    try:
        _, plan = _plan(tmp_path / "git")
        # Credentials in the URL: the operator's user, as someone running their own NATS has.
        url = given.url_as(OPERATOR)
        with running_stack(
            tmp_path / "stack", nats_url=url, dagger_executors=0, extra_env=ENV
        ) as stack:
            assert stack.nats is None and stack.nats_nodes == []
            assert not (stack.data_dir / "nats").exists()
            recorded = json.loads((stack.data_dir / STATE_FILE).read_text())["processes"]
            assert not [p for p in recorded if p["name"].startswith("nats-server")]
            with api_client(stack) as client:
                run_id = start_run(
                    client, plan, start_batch="1", end_batch="2", agent="plan-follower"
                )
                assert wait_for_run(client, run_id)["status"] == "succeeded"
            # The password never reaches a log line.
            logs = "".join(p.read_text() for p in (stack.data_dir / "logs").glob("*.log"))
            assert users[OPERATOR] not in logs
    finally:
        given.stop()


def test_a_nats_url_and_a_cluster_exclude_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "up",
            "--data-dir",
            str(tmp_path),
            "--nats-url",
            "nats://127.0.0.1:4222",
            "--nats-cluster",
            "3",
        ]
    )
    assert code != 0
    assert "--nats-url and --nats-cluster exclude each other" in capsys.readouterr().err


def test_a_stack_asking_more_replicas_than_nodes_stops_saying_why(tmp_path: Path) -> None:
    env = {**ENV, "CC_STREAM_REPLICAS": "3"}
    with (
        pytest.raises(ServerError) as refused,
        running_stack(tmp_path / "stack", dagger_executors=0, extra_env=env),
    ):
        pass
    assert "exited during start-up" in str(refused.value)
    assert "CC_STREAM_REPLICAS=3: JetStream cannot keep 3 replicas" in str(refused.value)
