"""Why a use case did not do what was asked: the errors use cases raise.

Plain exceptions, no HTTP: `gateway.errors` is the one place that turns them into answers.
"""

from __future__ import annotations

from collections.abc import Sequence


class GatewayError(Exception):
    """A refusal or an outage the gateway decided on (not a crash)."""


class NotFound(GatewayError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class Conflict(GatewayError):
    """The request is fine, the state of what it names does not allow it (or what it names
    is ambiguous: `candidates` are what it could mean)."""

    def __init__(self, message: str, *, candidates: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.candidates = list(candidates)


class AgentUnavailable(Conflict):
    """Executors of the run's mode are alive, and none can run its agent: `executors` says
    what each one it checked can run."""

    def __init__(self, message: str, *, agent: str, executors: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.agent = agent
        self.executors = executors


class InvalidRequest(GatewayError):
    """Bad input; `field` names what is at fault (a body field unless `source` says else)."""

    def __init__(
        self,
        field: str | Sequence[str],
        message: str,
        candidates: Sequence[str] = (),
        *,
        source: str = "body",
    ) -> None:
        super().__init__(message)
        self.fields = (field,) if isinstance(field, str) else tuple(field)
        self.message = message
        self.candidates = list(candidates)
        self.source = source

    @property
    def field(self) -> str:
        return self.fields[0]


class NotPermitted(GatewayError):
    """The request asks for something the gateway's configuration does not allow (`setting`
    names it): a path outside the allowed roots, a remote no pattern allows."""

    def __init__(self, field: str, message: str, *, setting: str, source: str = "body") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.setting = setting
        self.source = source


class TooLarge(GatewayError):
    """What the request names or carries is over a size limit (`setting` names it)."""

    def __init__(self, field: str, message: str, *, setting: str, source: str = "body") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.setting = setting
        self.source = source


class Unavailable(GatewayError):
    """A dependency (NATS, PostgreSQL) cannot serve now; the same request may work later."""

    def __init__(self, dependency: str, message: str) -> None:
        super().__init__(f"{dependency} is unavailable: {message}")
        self.dependency = dependency
        self.message = message


class IdempotencyMismatch(GatewayError):
    """The Idempotency-Key was used before, for a different request."""

    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was used for a different request")


def describe(exc: BaseException) -> str:
    """`Type: message` of a failure, for an `Unavailable` and the log."""
    return f"{type(exc).__name__}: {exc}".strip(": ")
