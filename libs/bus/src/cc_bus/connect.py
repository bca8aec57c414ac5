"""One way to connect to NATS for every service (reconnect forever, with a name and the
service's own user), to close the connection, and to run a service until it is signalled to
stop."""

from __future__ import annotations

import asyncio
import logging
import signal
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import nats
from commandcenter_contracts import Env, SettingsError
from nats.aio.client import Client
from nats.errors import Error as NatsError

from cc_bus.permissions import inbox_prefix

log = logging.getLogger(__name__)


class NatsAuthError(RuntimeError):
    """The service's NATS credentials cannot be read."""


@dataclass(frozen=True, kw_only=True)
class NatsAuth:
    """Which NATS user a service connects as (`CC_NATS_USER`) and the file holding its
    password (`CC_NATS_PASSWORD_FILE`; a file, so the password is in no environment an agent
    inherits and in no settings dump). Neither: connect anonymously (a server without users,
    as the tests start)."""

    user: str | None = None
    password_file: Path | None = None

    @classmethod
    def from_env(cls, env: Env) -> NatsAuth:
        user, password_file = env.get("CC_NATS_USER"), env.optional_path("CC_NATS_PASSWORD_FILE")
        if (user is None) != (password_file is None):
            raise SettingsError(
                "CC_NATS_USER and CC_NATS_PASSWORD_FILE go together: set both (the service's "
                "NATS user and the file holding its password) or neither"
            )
        return cls(user=user, password_file=password_file)

    def password(self) -> str | None:
        if self.password_file is None:
            return None
        try:
            password = self.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise NatsAuthError(
                f"CC_NATS_PASSWORD_FILE: cannot read {self.password_file}: {exc.strerror}"
            ) from exc
        if not password:
            raise NatsAuthError(f"CC_NATS_PASSWORD_FILE: {self.password_file} is empty")
        return password


def server_urls(url: str) -> list[str]:
    """`CC_NATS_URL` as a list: one URL, or several separated by commas (the nodes of a
    cluster; the client connects to one that answers and fails over to the others)."""
    urls = [part.strip() for part in url.split(",") if part.strip()]
    if not urls:
        raise SettingsError("CC_NATS_URL is empty: give a URL such as nats://127.0.0.1:4222")
    return urls


def url_credentials(url: str) -> dict[str, str]:
    """The user and password written in the (first) URL, as connection options: nats-py uses
    a URL's own credentials only for that URL, not for the servers a cluster announces, so a
    reconnect to one of those would be refused without them."""
    parts = urllib.parse.urlsplit(server_urls(url)[0])
    if not parts.username:
        return {}
    if parts.password is None:  # nats://<token>@host
        return {"token": urllib.parse.unquote(parts.username)}
    return {
        "user": urllib.parse.unquote(parts.username),
        "password": urllib.parse.unquote(parts.password),
    }


def redact_url(url: str) -> str:
    """`url` fit for a log line: a password in it (`nats://user:secret@host`) becomes `***`;
    a comma-separated list of URLs, each of them."""
    if "," in url:
        return ",".join(redact_url(part) for part in server_urls(url))
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


async def connect(url: str, *, name: str, auth: NatsAuth | None = None) -> Client:
    """Connect as `auth`'s user, replies on that user's own inbox prefix (the only inbox its
    permissions let it read); never logs a password (`redact_url`). `url` may list several
    servers (`server_urls`); credentials in a URL (`nats://user:pass@host`) are used when no
    `auth` user is set."""
    shown = redact_url(url)
    auth = auth or NatsAuth()
    credentials: dict[str, str] = {}
    if auth.user:
        credentials = {"user": auth.user, "password": auth.password() or ""}
    else:
        credentials = url_credentials(url)

    async def on_disconnect() -> None:
        log.warning("nats: disconnected from %s", shown)

    async def on_reconnect() -> None:
        log.info("nats: reconnected to %s", shown)

    async def on_error(exc: Exception) -> None:
        log.warning("nats: %s", exc)

    return await nats.connect(
        server_urls(url),
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        allow_reconnect=True,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        error_cb=on_error,
        inbox_prefix=inbox_prefix(auth.user) if auth.user else "_INBOX",
        **credentials,
    )


async def close(nc: Client | None) -> None:
    """Drain (what was published gets flushed), or just close when NATS is unreachable."""
    if nc is None or nc.is_closed:
        return
    try:
        await nc.drain()
    except NatsError as exc:  # NATS unreachable right now: nothing left to flush
        log.warning("closing the NATS connection: %s", exc)
        await nc.close()


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def run_until_signalled(
    service: Service, work: Callable[[], asyncio.Task[None] | None] = lambda: None
) -> None:
    """Start the service, serve until SIGTERM/SIGINT, stop it. `work` (asked after start) is
    the service's main loop, if it has one: when it ends by itself, its error is raised."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await service.start()
        stopping = asyncio.create_task(stop.wait())
        main = work()
        await asyncio.wait({stopping} | ({main} if main else set()), return_when="FIRST_COMPLETED")
        stopping.cancel()
        if main is not None and main.done() and not stop.is_set():
            main.result()  # the main loop died: raise its error
            raise RuntimeError("the service's main loop ended by itself")
    finally:
        await service.stop()
