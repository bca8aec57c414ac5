"""Observability shared by every service: Prometheus metrics and OpenTelemetry traces."""
