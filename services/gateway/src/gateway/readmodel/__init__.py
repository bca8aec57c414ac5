"""The read model in PostgreSQL and what writes it: the migrations, the projector of status
events and the projector of dead letters. The API's slices only read it (their `queries`)."""
