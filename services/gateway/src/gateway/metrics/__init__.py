"""The gateway's Prometheus metrics, on its API port at `/metrics`.

- HTTP requests (`http`, litestar's Prometheus families: `cc_http_requests_total`,
  `cc_http_request_duration_seconds`, `cc_http_requests_in_progress`,
  `cc_http_requests_error_total`; paths grouped by route template).
- `cc_queue_pending{consumer}` (JetStream: pending + ack-pending of every durable, the figure
  KEDA scales executor-dagger on) and `cc_runs{status}` (the read model): read just before each
  scrape (`figures`).
- `cc_sse_clients`: event streams open now (`sse_clients`).
- Plus what every process shows: `cc_messages_settled_total` of its projectors, and
  prometheus_client's process and Python families.
"""
