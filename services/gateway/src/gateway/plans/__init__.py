"""Plans: read and parse one (from a path on the gateway's machine or from text) without
running it."""
