"""Listing a key-value bucket's keys as the server itself counts them.

Not nats-py's `KeyValue.keys()` or `watch()`: right after subscribing, its watcher asks the
consumer how many entries are pending, and when the server has already sent every one (0
pending) but the client has not yet counted any, it queues its "no more entries" marker
*before* them. A listing then comes back empty although the bucket is full (CI saw it on a
slow machine). The stream's own subject list (`STREAM.INFO` with a subject filter) is answered
by the server in one reply, with nothing to race.

A key is listed while its stream subject holds a message: in a bucket that deletes keys (not
purges them), the last message may be the delete marker, so a caller reads each value and
skips the ones that are gone."""

from __future__ import annotations

from nats.js import JetStreamContext

from cc_bus.topology import kv_stream

SERVER_PAGE = 100_000
"""The most subjects one `STREAM.INFO` reply lists (nats-server's `JSMaxSubjectDetails`)."""


class TooManyKeys(Exception):
    """More keys match than one reply lists: refused loudly, never listed in part."""


async def bucket_keys(js: JetStreamContext, bucket: str, pattern: str = ">") -> list[str]:
    """The keys of `bucket` matching `pattern` (NATS wildcards: `*` one token, `>` the rest),
    sorted."""
    prefix = f"$KV.{bucket}."
    info = await js.stream_info(kv_stream(bucket), subjects_filter=prefix + pattern)
    subjects = info.state.subjects or {}
    if len(subjects) >= SERVER_PAGE:
        # nats-py sends no paging offset; a partial list would silently skip keys.
        raise TooManyKeys(
            f"{len(subjects)}+ keys of bucket {bucket} match {pattern!r}: more than one "
            "listing answers"
        )
    return sorted(subject.removeprefix(prefix) for subject in subjects)
