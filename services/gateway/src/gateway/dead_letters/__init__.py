"""Dead letters: what the system gave up on, listed newest first (the projector that writes
them is `gateway.readmodel.dead_letter_projector`)."""
