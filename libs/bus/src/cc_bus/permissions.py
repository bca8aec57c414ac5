"""Who may do what on the bus: one NATS user per service, with subject allow lists.

The one place the permissions are written down. `nats_authorization` renders them into the
nats-server configuration (`commandcenter up` writes it; Compose and Kubernetes use the same
text), `markdown` into docs/architecture.md (a test keeps the two equal). Everything
not allowed is denied, and there is no anonymous user.

The lists follow from what each service does (docs/architecture.md §3):

- JetStream publishes are requests: the acks come back on the service's own inbox prefix
  (`_INBOX.<user>.>`, `connect` sets it), so no service reads another one's replies — the
  messages the planner pulls, the gateway's event streams.
- Pulling from a durable is `$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>`, acking it (ack,
  nak, in-progress, term) a publish to `$JS.ACK.<stream>.<durable>.>`: a service may do both
  only for its own durables.
- The control plane (gateway, planner) reconciles the streams (create and update, see
  `cc_bus.topology`); an executor may only create a missing one with the same definition (a
  create never changes an existing stream) and never update, purge or delete one.
- The operator user (`OPERATOR`) is for a person holding the data directory (the `nats` CLI,
  the tests' checks): every subject. No service gets it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from commandcenter_contracts import subjects as s

from cc_bus.topology import STREAMS, kv_stream

GATEWAY = "gateway"
PLANNER = "planner"
EXECUTOR_LOCAL = "executor-local"
EXECUTOR_DAGGER = "executor-dagger"
OPERATOR = "operator"

API = "$JS.API"
STREAM_NAMES = tuple(spec.name for spec in STREAMS)


def inbox_prefix(user: str) -> str:
    """Where a user's replies arrive: `_INBOX.<user>` (nats-py's `inbox_prefix`)."""
    return f"_INBOX.{user}"


# --- the JetStream API, by what a service does ------------------------------------------------
def _look_up(*streams: str) -> tuple[str, ...]:
    return tuple(f"{API}.STREAM.INFO.{stream}" for stream in streams)


def _create(*streams: str) -> tuple[str, ...]:
    return tuple(f"{API}.STREAM.CREATE.{stream}" for stream in streams)


def _reconcile(*streams: str) -> tuple[str, ...]:
    """Create, look up and update: the control plane keeps the server's streams as defined."""
    updates = tuple(f"{API}.STREAM.UPDATE.{stream}" for stream in streams)
    return _create(*streams) + _look_up(*streams) + updates


def _durable(stream: str, durable: str) -> tuple[str, ...]:
    """Create or update, look up, pull from and acknowledge one durable consumer."""
    return (
        f"{API}.CONSUMER.CREATE.{stream}.{durable}",
        f"{API}.CONSUMER.CREATE.{stream}.{durable}.>",  # with its filter subject
        f"{API}.CONSUMER.DURABLE.CREATE.{stream}.{durable}",  # servers before 2.9
        f"{API}.CONSUMER.INFO.{stream}.{durable}",
        f"{API}.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
    )


def _ordered_reader(stream: str) -> tuple[str, ...]:
    """Ephemeral ordered consumers (event streams): create, delete, answer
    flow control."""
    return (
        f"{API}.CONSUMER.CREATE.{stream}",
        f"{API}.CONSUMER.CREATE.{stream}.>",
        f"{API}.CONSUMER.DELETE.{stream}.*",
        f"$JS.FC.{stream}.>",
    )


def _get(stream: str) -> tuple[str, ...]:
    """Single messages by sequence or last-by-subject (key-value gets included)."""
    return (
        f"{API}.STREAM.MSG.GET.{stream}",
        f"{API}.DIRECT.GET.{stream}",
        f"{API}.DIRECT.GET.{stream}.>",
    )


def _kv_read(bucket: str) -> tuple[str, ...]:
    """Open a bucket, list its keys (the stream's subjects, `cc_bus.kv_keys`), get entries."""
    stream = kv_stream(bucket)
    return _look_up(stream) + _get(stream)


def _kv_write(bucket: str) -> tuple[str, ...]:
    """Open (creating it when missing), list keys, get, put and delete entries."""
    stream = kv_stream(bucket)
    return _create(stream) + _look_up(stream) + _get(stream) + (f"$KV.{bucket}.>",)


# --- the roles ---------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Role:
    user: str
    """The NATS user name; also the inbox prefix's last token."""
    about: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]

    @property
    def inbox(self) -> str:
        return f"{inbox_prefix(self.user)}.>"


def _executor(user: str, dispatch: str, durable: str, *, turns: bool = False) -> Role:
    # Replicas take turns integrating: they write the turns bucket and hear its entries change.
    turns_bucket = s.KV_INTEGRATION_TURNS
    return Role(
        user=user,
        about=f"takes `{dispatch}` from its durable `{durable}`; publishes status, logs and dead "
        "letters; announces itself in `cc_executors`; claims each dispatch in "
        "`cc_task_claims`; hears cancels"
        + (f"; takes integration turns in `{turns_bucket}`" if turns else ""),
        publish=(
            f"{s.STATUS_PREFIX}.*",
            f"{s.LOG_PREFIX}.*.*",
            s.TASK_DEAD,
            *_create(*STREAM_NAMES),
            *_look_up(*STREAM_NAMES),
            *_durable(s.STREAM_TASKS, durable),
            *_kv_write(s.KV_EXECUTORS),
            *_kv_write(s.KV_TASK_CLAIMS),
            *(_kv_write(turns_bucket) if turns else ()),
        ),
        subscribe=(s.CONTROL_CANCEL_ALL, *((f"$KV.{turns_bucket}.>",) if turns else ())),
    )


ROLES: tuple[Role, ...] = (
    Role(
        user=GATEWAY,
        about="starts runs, replays and cancels them; projects status events and dead letters "
        "into the read model; streams events and logs to clients; reconciles the streams",
        publish=(
            s.PHASE_START,
            s.CONTROL_REPLAY,
            f"{s.CONTROL_PREFIX}.cancel.*",
            f"{s.STATUS_PREFIX}.*",  # run.accepted, run.cancelled, run.budget_changed
            s.TASK_DEAD,  # a message its projectors cannot read
            *_reconcile(*STREAM_NAMES),
            *_durable(s.STREAM_STATUS, s.CONSUMER_PROJECTOR),
            *_durable(s.STREAM_DEAD, s.CONSUMER_DEAD_LETTERS),
            # Queue depths for /metrics: every durable's info, nothing else of them.
            f"{API}.CONSUMER.INFO.*.*",
            *_ordered_reader(s.STREAM_STATUS),
            *_ordered_reader(s.STREAM_LOGS),
            *_get(s.STREAM_STATUS),
            *_get(s.STREAM_LOGS),
            *_kv_read(s.KV_EXECUTORS),
        ),
        subscribe=(),
    ),
    Role(
        user=PLANNER,
        about="plans runs, dispatches tasks, advances runs on status events, replays, lands; "
        "takes back a cancelled run's queued tasks; reconciles the streams",
        publish=(
            s.TASK_DISPATCH_LOCAL,
            s.TASK_DISPATCH_DAGGER,
            f"{s.STATUS_PREFIX}.*",
            s.TASK_DEAD,
            s.CONTROL_LAND,
            *_reconcile(*STREAM_NAMES),
            *_durable(s.STREAM_PHASES, s.CONSUMER_PLANNER),
            *_durable(s.STREAM_PHASES, s.CONSUMER_PLANNER_REPLAY),
            *_durable(s.STREAM_PHASES, s.CONSUMER_PLANNER_LAND),
            *_durable(s.STREAM_STATUS, s.CONSUMER_PLANNER_PROGRESS),
            *_durable(s.STREAM_ADVISORIES, s.CONSUMER_PLANNER_ADVISORIES),
            # A cancelled run's queued tasks, read and deleted by sequence; the task message a
            # MAX_DELIVERIES advisory names.
            *_get(s.STREAM_TASKS),
            f"{API}.STREAM.MSG.DELETE.{s.STREAM_TASKS}",
            *_kv_write(s.KV_PLANNER_RUNS),
            # The retention sweep: purges a forgotten run's keys.
            f"{API}.STREAM.PURGE.{kv_stream(s.KV_PLANNER_RUNS)}",
            # Replicas of the buckets (CC_STREAM_REPLICAS): they are streams.
            f"{API}.STREAM.UPDATE.{kv_stream(s.KV_PLANNER_RUNS)}",
            *_reconcile(
                kv_stream(s.KV_EXECUTORS),
                kv_stream(s.KV_INTEGRATION_TURNS),
                kv_stream(s.KV_TASK_CLAIMS),
            ),
        ),
        subscribe=(),
    ),
    _executor(EXECUTOR_LOCAL, s.TASK_DISPATCH_LOCAL, s.CONSUMER_EXECUTOR_LOCAL),
    _executor(EXECUTOR_DAGGER, s.TASK_DISPATCH_DAGGER, s.CONSUMER_EXECUTOR_DAGGER, turns=True),
)

SERVICE_USERS: tuple[str, ...] = tuple(role.user for role in ROLES)


def role(user: str) -> Role:
    for found in ROLES:
        if found.user == user:
            return found
    raise KeyError(f"no NATS role {user!r} (one of {', '.join(SERVICE_USERS)})")


# --- rendering -----------------------------------------------------------------------------------
def _quoted(items: tuple[str, ...], indent: str) -> str:
    return "[\n" + "".join(f'{indent}  "{item}"\n' for item in items) + f"{indent}]"


def password_variable(user: str) -> str:
    """The environment variable nats-server reads `user`'s password from in a deployment's
    configuration (`nats_authorization_template`): `NATS_PASSWORD_EXECUTOR_LOCAL`."""
    return "NATS_PASSWORD_" + user.upper().replace("-", "_")


def _user_block(user: str, password: str) -> str:
    """`password` as it stands in the file: a quoted string, or `$VARIABLE`."""
    if user == OPERATOR:
        return f'    {{ user: "{user}", password: {password} }}'
    found = role(user)
    subscribe = (found.inbox, *found.subscribe)
    return (
        f'    {{\n      user: "{user}", password: {password}\n'
        "      permissions: {\n"
        f"        publish: {{ allow: {_quoted(found.publish, '          ')} }}\n"
        f"        subscribe: {{ allow: {_quoted(subscribe, '          ')} }}\n"
        "      }\n    }"
    )


def _authorization(passwords: dict[str, str]) -> str:
    blocks = ",\n".join(_user_block(user, pw) for user, pw in passwords.items())
    return f"authorization {{\n  users: [\n{blocks}\n  ]\n}}\n"


def nats_authorization(passwords: Mapping[str, str]) -> str:
    """The `authorization { … }` block of nats-server's configuration for these users (a
    service user, or `OPERATOR`) and passwords. No `no_auth_user`: anonymous is refused."""
    for user, password in passwords.items():
        if user != OPERATOR:
            role(user)  # an unknown user is a mistake, not a user with no rights
        if not password or any(c in password for c in '"\\\n'):
            raise ValueError(f"the password of NATS user {user!r} is empty or not plain text")
    return _authorization({user: f'"{pw}"' for user, pw in passwords.items()})


def nats_authorization_template() -> str:
    """The same block for Compose and Kubernetes: every service user, each password read
    from the server's environment (`password_variable`), filled from a secret there."""
    return _authorization({user: f"${password_variable(user)}" for user in SERVICE_USERS})


def markdown() -> str:
    """The roles as docs/architecture.md shows them (a test keeps the two equal)."""
    parts = []
    for found in ROLES:
        publish = ", ".join(f"`{item}`" for item in found.publish)
        subscribe = ", ".join(f"`{item}`" for item in (found.inbox, *found.subscribe))
        parts.append(
            f"- **`{found.user}`** — {found.about}.\n"
            f"  - publish: {publish}\n"
            f"  - subscribe: {subscribe}\n"
        )
    return "".join(parts)
