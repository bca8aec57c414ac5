"""Dependency injection: handlers receive the app's `Resources` as `resources`."""

from __future__ import annotations

from litestar.datastructures import State

from gateway.resources import Resources


def provide_resources(state: State) -> Resources:
    resources = state.get("resources")
    if not isinstance(resources, Resources):  # only outside a running lifespan
        raise RuntimeError("the gateway's resources are not open")
    return resources
