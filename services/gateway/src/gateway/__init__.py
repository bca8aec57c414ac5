"""CommandCenter gateway: REST + Server-Sent Events over NATS JetStream and a PostgreSQL read
model. Run it with `python -m gateway`; build it with `gateway.app.create_app(settings)`."""
