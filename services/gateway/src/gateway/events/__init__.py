"""Server-Sent Events of a run's status events, and a task's agent output.

Both read JetStream directly (not the read model): `id:` is the stream sequence, so a client
that reconnects with `Last-Event-ID` gets exactly what it has not seen yet.
"""
