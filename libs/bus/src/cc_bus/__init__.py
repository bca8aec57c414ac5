"""NATS JetStream plumbing shared by CommandCenter's services (no domain logic here)."""

from cc_bus.connect import connect
from cc_bus.consume import Ack, Consumer, Delivery, GiveUp, Retry, Settle, Undecodable
from cc_bus.dead_letters import dead_letter, letter_id
from cc_bus.publish import (
    MSG_ID_HEADER,
    publish,
    publish_dead_letter,
    publish_log,
    publish_status,
    publish_task,
)
from cc_bus.topology import (
    STREAMS,
    ConsumerSpec,
    StreamSpec,
    dead_letters_consumer,
    ensure_consumer,
    ensure_stream,
    ensure_streams,
    executor_dagger_consumer,
    executor_local_consumer,
    planner_advisories_consumer,
    planner_land_consumer,
    planner_phase_consumer,
    planner_progress_consumer,
    planner_replay_consumer,
    projector_consumer,
)

__all__ = [
    "MSG_ID_HEADER",
    "STREAMS",
    "Ack",
    "Consumer",
    "ConsumerSpec",
    "Delivery",
    "GiveUp",
    "Retry",
    "Settle",
    "StreamSpec",
    "Undecodable",
    "connect",
    "dead_letter",
    "dead_letters_consumer",
    "ensure_consumer",
    "ensure_stream",
    "ensure_streams",
    "executor_dagger_consumer",
    "executor_local_consumer",
    "letter_id",
    "planner_advisories_consumer",
    "planner_land_consumer",
    "planner_phase_consumer",
    "planner_progress_consumer",
    "planner_replay_consumer",
    "projector_consumer",
    "publish",
    "publish_dead_letter",
    "publish_log",
    "publish_status",
    "publish_task",
]
