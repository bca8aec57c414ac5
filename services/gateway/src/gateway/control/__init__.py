"""Control of running work: replay tasks, cancel a run, set its budget. Checked against the read
model, then handed over on NATS (the planner and the executors carry it out)."""

from __future__ import annotations

import uuid

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://commandcenter/gateway/control")
"""Of the ids control derives from a request (a replay's request id, a cancel's event id), so
a repeated request publishes a message JetStream deduplicates."""
