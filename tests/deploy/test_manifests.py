"""The deployment files pass the offline validators, and the validators do fail on broken copies.

`deploy/validate.sh` installs its pinned tools into `.tools-venv` on first use (PyPI; about ten
seconds), so this runs on a fresh clone where only `.venv` exists. Every command is an argv
list; nothing goes through a shell string.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VALIDATE = ROOT / "deploy" / "validate.sh"
K8S = ROOT / "k8s"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
CREDENTIAL = re.compile(r"KEY|TOKEN|PASSWORD|SECRET", re.IGNORECASE)

Doc = dict[str, Any]

# Installs pinned validators from PyPI on first use and runs them: minutes, not `test-fast`.
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


@pytest.fixture(scope="module")
def full_run() -> subprocess.CompletedProcess[str]:
    """Everything on the repository's files (bootstraps the tools the first time)."""
    return validate()


# --- the real files --------------------------------------------------------------------------


def test_repository_deploy_files_validate(full_run: subprocess.CompletedProcess[str]) -> None:
    out = full_run.stdout + full_run.stderr
    assert full_run.returncode == 0, out
    for check in (
        "docker compose config -q",
        "kubernetes-validate --strict -k 1.32.0",
        "KEDA ScaledObject",
        "policy and references",
        "nats-server -t",
        "hadolint",
    ):
        assert re.search(rf"^ok .*{re.escape(check)}", full_run.stdout, re.MULTILINE), out


# --- broken copies must fail -----------------------------------------------------------------


def load_all(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def dump_all(path: Path, docs: list[Doc]) -> None:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")


def edit_yaml(path: Path, change: Callable[[list[Doc]], None]) -> None:
    docs = load_all(path)
    change(docs)
    dump_all(path, docs)


def container(doc: Doc, index: int = 0) -> Doc:
    c: Doc = doc["spec"]["template"]["spec"]["containers"][index]
    return c


def break_compose_condition(docs: list[Doc]) -> None:
    docs[0]["services"]["gateway"]["depends_on"]["nats"]["condition"] = "service_happy"


def break_compose_inline_key(docs: list[Doc]) -> None:
    docs[0]["services"]["executor-dagger"]["environment"]["ANTHROPIC_API_KEY"] = "sk-ant-123"


def break_compose_local_replicas(docs: list[Doc]) -> None:
    docs[0]["services"]["executor-local"]["deploy"]["replicas"] = 3


def break_compose_metrics_label(docs: list[Doc]) -> None:
    docs[0]["services"]["planner"]["labels"] = {
        **docs[0]["services"]["planner"]["labels"],
        "prometheus.io/port": "9999",
    }


def break_compose_metrics_port(docs: list[Doc]) -> None:
    docs[0]["services"]["executor-dagger"]["environment"].pop("CC_METRICS_PORT")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (break_compose_condition, "condition"),
        (break_compose_inline_key, "ANTHROPIC_API_KEY has a literal value"),
        (break_compose_local_replicas, "executor-local: deploy.replicas must be 1"),
        (
            break_compose_metrics_label,
            "planner: label prometheus.io/port '9999' must equal CC_METRICS_PORT 9464",
        ),
        (
            break_compose_metrics_port,
            "executor-dagger: CC_METRICS_PORT is not set, so /metrics is not served",
        ),
    ],
    ids=[
        "depends_on-condition",
        "inline-api-key",
        "executor-local-replicas",
        "metrics-label",
        "metrics-port",
    ],
)
@pytest.mark.usefixtures("full_run")
def test_broken_compose_fails(
    tmp_path: Path,
    change: Callable[[list[Doc]], None],
    expected: str,
) -> None:
    broken = tmp_path / "docker-compose.yml"
    shutil.copy(COMPOSE, broken)
    edit_yaml(broken, change)
    proc = validate("compose", broken)
    assert proc.returncode != 0, proc.stdout
    assert expected in proc.stdout, proc.stdout


def k8s_copy(tmp_path: Path) -> Path:
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    return tree


def replicas_two(tree: Path) -> None:
    edit_yaml(
        tree / "executor-local" / "deployment.yaml",
        lambda docs: docs[0]["spec"].update(replicas="two"),
    )


def no_triggers(tree: Path) -> None:
    edit_yaml(
        tree / "executor-dagger" / "scaledobject.yaml",
        lambda docs: docs[0]["spec"].pop("triggers"),
    )


def wrong_consumer(tree: Path) -> None:
    def change(docs: list[Doc]) -> None:
        docs[0]["spec"]["triggers"][0]["metadata"]["consumer"] = "executor-local"

    edit_yaml(tree / "executor-dagger" / "scaledobject.yaml", change)


def target_elsewhere(tree: Path) -> None:
    def change(docs: list[Doc]) -> None:
        docs[0]["spec"]["scaleTargetRef"]["name"] = "executor-daggerr"

    edit_yaml(tree / "executor-dagger" / "scaledobject.yaml", change)


def rolling_local(tree: Path) -> None:
    edit_yaml(
        tree / "executor-local" / "deployment.yaml",
        lambda docs: docs[0]["spec"].update(strategy={"type": "RollingUpdate"}),
    )


def inline_database_url(tree: Path) -> None:
    def change(docs: list[Doc]) -> None:
        env = container(docs[0])["env"]
        env[0] = {"name": "CC_DATABASE_URL", "value": "postgresql://cc:hunter2@db/cc"}

    edit_yaml(tree / "gateway" / "deployment.yaml", change)


def no_limits(tree: Path) -> None:
    edit_yaml(
        tree / "planner" / "deployment.yaml",
        lambda docs: container(docs[0])["resources"].pop("limits"),
    )


def no_readiness(tree: Path) -> None:
    edit_yaml(
        tree / "executor-dagger" / "deployment.yaml",
        lambda docs: container(docs[0]).pop("readinessProbe"),
    )


def short_grace(tree: Path) -> None:
    def change(docs: list[Doc]) -> None:
        docs[0]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30

    edit_yaml(tree / "executor-dagger" / "deployment.yaml", change)


def unknown_api_version(tree: Path) -> None:
    edit_yaml(
        tree / "planner" / "deployment.yaml", lambda docs: docs[0].update(apiVersion="apps/v2")
    )


def lazy_fsync(tree: Path) -> None:
    def change(docs: list[Doc]) -> None:
        conf = docs[0]["data"]["nats.conf"]
        docs[0]["data"]["nats.conf"] = conf.replace("sync_interval: always", "sync_interval: 2m")

    edit_yaml(tree / "nats" / "configmap.yaml", change)


def anonymous_nats(tree: Path) -> None:
    def change(docs: list[Doc]) -> None:
        conf = docs[0]["data"]["nats.conf"]
        docs[0]["data"]["nats.conf"] = conf.replace("include ./authorization.conf", "")

    edit_yaml(tree / "nats" / "configmap.yaml", change)


def unknown_nats_password(tree: Path) -> None:
    def change(docs: list[Doc]) -> None:
        auth = docs[0]["data"]["authorization.conf"]
        docs[0]["data"]["authorization.conf"] = auth.replace("$NATS_PASSWORD_GATEWAY", "$PW")

    edit_yaml(tree / "nats" / "configmap.yaml", change)


def gateway_scraped_elsewhere(tree: Path) -> None:
    def change(docs: list[Doc]) -> None:
        docs[0]["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] = "9464"

    edit_yaml(tree / "gateway" / "deployment.yaml", change)


def executor_not_scraped(tree: Path) -> None:
    edit_yaml(
        tree / "executor-local" / "deployment.yaml",
        lambda docs: docs[0]["spec"]["template"]["metadata"].pop("annotations"),
    )


def metrics_on_loopback(tree: Path) -> None:
    def change(docs: list[Doc]) -> None:
        docs[0]["data"]["CC_METRICS_HOST"] = "127.0.0.1"

    edit_yaml(tree / "common" / "configmap.yaml", change)


def metrics_port_undeclared(tree: Path) -> None:
    edit_yaml(tree / "planner" / "deployment.yaml", lambda docs: container(docs[0]).pop("ports"))


def single_nats(tree: Path) -> None:
    edit_yaml(tree / "nats" / "statefulset.yaml", lambda docs: docs[0]["spec"].update(replicas=1))


def route_missing_a_pod(tree: Path) -> None:
    def change(docs: list[Doc]) -> None:
        for env in container(docs[0])["env"]:
            if env["name"] == "NATS_ROUTE_2":
                env["value"] = env["value"].replace("nats-2.", "nats-1.")

    edit_yaml(tree / "nats" / "statefulset.yaml", change)


def fixed_server_name(tree: Path) -> None:
    def change(docs: list[Doc]) -> None:
        conf = docs[0]["data"]["nats.conf"]
        docs[0]["data"]["nats.conf"] = conf.replace("server_name: $POD_NAME", "server_name: nats")

    edit_yaml(tree / "nats" / "configmap.yaml", change)


def pdb_loses_quorum(tree: Path) -> None:
    edit_yaml(tree / "nats" / "pdb.yaml", lambda docs: docs[0]["spec"].update(maxUnavailable=2))


def keda_on_client_service(tree: Path) -> None:
    def change(docs: list[Doc]) -> None:
        meta = docs[0]["spec"]["triggers"][0]["metadata"]
        meta["natsServerMonitoringEndpoint"] = "nats.commandcenter.svc.cluster.local:8222"

    edit_yaml(tree / "executor-dagger" / "scaledobject.yaml", change)


def too_many_stream_replicas(tree: Path) -> None:
    edit_yaml(
        tree / "common" / "configmap.yaml",
        lambda docs: docs[0]["data"].update(CC_STREAM_REPLICAS="5"),
    )


def unlisted_manifest(tree: Path) -> None:
    edit_yaml(
        tree / "kustomization.yaml",
        lambda docs: docs[0]["resources"].remove("planner/deployment.yaml"),
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (replicas_two, "spec.replicas: 'two' is not of type 'integer'"),
        (no_triggers, "triggers"),
        (wrong_consumer, "consumer"),
        (target_elsewhere, "scaleTargetRef.name 'executor-daggerr' is not a Deployment"),
        (rolling_local, "executor-local: spec.strategy.type must be Recreate"),
        (inline_database_url, "env CC_DATABASE_URL has an inline value"),
        (no_limits, "resources.limits.cpu missing"),
        (no_readiness, "readinessProbe missing"),
        (short_grace, "terminationGracePeriodSeconds 30 must exceed CC_DAGGER_GRACE_S"),
        (unknown_api_version, "no schema for apps/v2 Deployment"),
        (lazy_fsync, "sync_interval must be 'always'"),
        (anonymous_nats, "must include ./authorization.conf"),
        (unknown_nats_password, "variable reference for 'PW'"),
        (unlisted_manifest, "planner/deployment.yaml is not listed in kustomization.yaml"),
        (single_nats, "StatefulSet nats: replicas 1; a JetStream cluster needs 3 or 5"),
        (route_missing_a_pod, "nats-0: routes name"),
        (fixed_server_name, "nats.conf: server_name must be $POD_NAME"),
        (pdb_loses_quorum, "PodDisruptionBudget nats: lets 2 of 3 NATS pods go"),
        (keda_on_client_service, "natsServerMonitoringEndpoint 'nats.commandcenter.svc"),
        (too_many_stream_replicas, "CC_STREAM_REPLICAS 5 needs that many NATS pods"),
        (
            gateway_scraped_elsewhere,
            "gateway: annotation prometheus.io/port '9464' must equal CC_GATEWAY_PORT 8001",
        ),
        (executor_not_scraped, 'executor-local: annotation prometheus.io/scrape must be "true"'),
        (metrics_on_loopback, "planner: /metrics listens on loopback (127.0.0.1): set 0.0.0.0"),
        (metrics_port_undeclared, "planner: no containerPort 9464 for /metrics"),
    ],
    ids=lambda v: v.__name__ if callable(v) else "",
)
@pytest.mark.usefixtures("full_run")
def test_broken_manifests_fail(
    tmp_path: Path,
    change: Callable[[Path], None],
    expected: str,
) -> None:
    tree = k8s_copy(tmp_path)
    change(tree)
    proc = validate("k8s", tree)
    assert proc.returncode != 0, proc.stdout
    assert expected in proc.stdout, proc.stdout


@pytest.mark.usefixtures("full_run")
def test_scaledobject_without_triggers_fails_alone(tmp_path: Path) -> None:
    """The single-file form too: the CRD check runs even though kubernetes-validate skips it."""
    tree = k8s_copy(tmp_path)
    no_triggers(tree)
    proc = validate("k8s", tree / "executor-dagger" / "scaledobject.yaml")
    assert proc.returncode != 0, proc.stdout
    assert "KEDA types: spec.triggers: Field required" in proc.stdout, proc.stdout


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'CMD ["python", "-m", "gateway"]',
            'USER 0\nCMD ["python", "-m", "gateway"]',
            "gateway: must end as a non-root USER",
        ),
        (
            'CMD ["python", "-m", "planner"]',
            'CMD ["python", "-m", "gateway"]',
            'planner: must run ["python", "-m", "planner"]',
        ),
        ("git openssh-client", "openssh-client", "executor-local: must install git"),
        (
            "--no-dev --no-editable --package cc-planner",
            "--no-editable --package cc-planner",
            "planner: `uv sync` lacks --no-dev",
        ),
    ],
    ids=["root-user", "wrong-entry-point", "no-git", "dev-dependencies"],
)
@pytest.mark.usefixtures("full_run")
def test_broken_dockerfile_fails(
    tmp_path: Path,
    old: str,
    new: str,
    expected: str,
) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert old in text
    broken = tmp_path / "Dockerfile"
    broken.write_text(text.replace(old, new), encoding="utf-8")
    proc = validate("dockerfile", broken)
    assert proc.returncode != 0, proc.stdout
    assert expected in proc.stdout, proc.stdout


# --- policy, asserted here on the YAML itself --------------------------------------------------


def manifests() -> Iterator[tuple[str, Doc]]:
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name != "kustomization.yaml":
            for doc in load_all(path):
                yield path.relative_to(K8S).as_posix(), doc


def workloads() -> list[tuple[str, Doc]]:
    return [(f, d) for f, d in manifests() if d["kind"] in {"Deployment", "StatefulSet"}]


def deployment(name: str) -> Doc:
    found = [
        d for _, d in manifests() if d["kind"] == "Deployment" and d["metadata"]["name"] == name
    ]
    assert len(found) == 1, name
    return found[0]


def test_executor_local_is_one_replica_recreated() -> None:
    spec = deployment("executor-local")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


def test_every_container_has_limits_probes_and_runs_as_non_root() -> None:
    assert {d["metadata"]["name"] for _, d in workloads()} >= {
        "nats",
        "postgres",
        "gateway",
        "planner",
        "executor-local",
        "executor-dagger",
    }
    for where, doc in workloads():
        pod = doc["spec"]["template"]["spec"]
        for c in pod["containers"]:
            name = f"{where} {c['name']}"
            assert {"cpu", "memory"} <= set(c["resources"]["limits"]), name
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]), name
            assert "livenessProbe" in c and "readinessProbe" in c, name
            assert c["securityContext"]["runAsNonRoot"] is True, name
            assert c["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"]), name


def test_no_credential_is_inline() -> None:
    for where, doc in workloads():
        for c in doc["spec"]["template"]["spec"]["containers"]:
            for env in c.get("env", []):
                if env["name"].endswith("_FILE"):  # a path to a mounted secret, not one
                    continue
                if CREDENTIAL.search(env["name"]) or env["name"] == "CC_DATABASE_URL":
                    assert "value" not in env, f"{where}: {env['name']}"
                    secret = env["valueFrom"]["secretKeyRef"]["name"]
                    assert secret in {"cc-secrets", "cc-nats-users"}, where
    config = next(d for _, d in manifests() if d["metadata"]["name"] == "cc-config")
    assert not [k for k in config["data"] if CREDENTIAL.search(k)]
    services = load_all(COMPOSE)[0]["services"]
    for name, svc in services.items():
        for key, value in (svc.get("environment") or {}).items():
            if CREDENTIAL.search(key) and not key.endswith("_FILE"):  # _FILE: a secret's path
                assert "${" in str(value), f"compose {name}: {key}"
    for name in ("executor-local", "executor-dagger"):
        assert services[name]["env_file"] == [{"path": "deploy/secrets.env", "required": False}]


def test_executor_dagger_scales_on_its_consumer_and_drains() -> None:
    (scaled,) = [d for _, d in manifests() if d["kind"] == "ScaledObject"]
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "executor-dagger"
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "nats-jetstream"
    meta = trigger["metadata"]
    assert (meta["stream"], meta["consumer"], meta["account"]) == (
        "CC_TASKS",
        "executor-dagger",
        "$G",
    )
    # NATS is clustered: KEDA asks <server_name>.<endpoint> for the consumer leader's counts.
    assert (
        meta["natsServerMonitoringEndpoint"] == "nats-headless.commandcenter.svc.cluster.local:8222"
    )
    config = next(d for _, d in manifests() if d["metadata"]["name"] == "cc-config")["data"]
    assert meta["lagThreshold"] == config["CC_DAGGER_SLOTS"]
    grace = int(config["CC_DAGGER_GRACE_S"])
    pod = deployment("executor-dagger")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > grace
    scale_down = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
    assert scale_down["stabilizationWindowSeconds"] > grace
    assert "replicas" not in deployment("executor-dagger")["spec"]  # KEDA owns it


def test_every_service_is_scraped_where_it_listens() -> None:
    config = next(d for _, d in manifests() if d["metadata"]["name"] == "cc-config")["data"]
    compose = load_all(COMPOSE)[0]["services"]
    for name in ("gateway", "planner", "executor-local", "executor-dagger"):
        port = config["CC_GATEWAY_PORT" if name == "gateway" else "CC_METRICS_PORT"]
        template = deployment(name)["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": port,
            "prometheus.io/path": "/metrics",
        }, name
        ports = {p["containerPort"] for p in template["spec"]["containers"][0]["ports"]}
        assert int(port) in ports, name
        labels = compose[name]["labels"]
        assert labels["prometheus.io/port"] == port, name
        assert labels["prometheus.io/scrape"] == "true", name
    assert config["CC_METRICS_HOST"] == "0.0.0.0"
