"""What every executor does on the NATS side, whatever runs its tasks.

- `TaskMessageHandler.handle(msg)`: one task message from decode to ack (outcome first, then
  ack; dead letters for undecodable messages; in-progress heartbeats; hand-back on shutdown).
- `NatsEventSink`: the task runner's progress and output lines, published in the background.
- `CancelRegistry` + `apply_cancel_request`: cancel requests from `cc.control.cancel.<run>`.
- `heartbeat`: in-progress acks while a block runs.

Free of any task-running code: the executor passes its `RunTask` (a `TaskRunner.run`) in.
"""

from cc_bus.executor.cancels import CancelRegistry, apply_cancel_request
from cc_bus.executor.handler import Outcome, RunTask, TaskMessageHandler, describe, num_delivered
from cc_bus.executor.heartbeat import heartbeat
from cc_bus.executor.sink import NatsEventSink

__all__ = [
    "CancelRegistry",
    "NatsEventSink",
    "Outcome",
    "RunTask",
    "TaskMessageHandler",
    "apply_cancel_request",
    "describe",
    "heartbeat",
    "num_delivered",
]
