-- API tokens (gateway.auth): only the SHA-256 of each secret is kept; the secret is shown once.
-- A revoked token keeps its row (who did what stays readable) and stops working at once: every
-- request looks its token up by hash.

CREATE TABLE api_tokens (
    id           text        PRIMARY KEY,
    name         text        NOT NULL,          -- recorded as `requested_by` of what it asks for
    scopes       text[]      NOT NULL,
    secret_hash  bytea       NOT NULL UNIQUE,   -- sha256 of the whole token
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,                   -- refreshed at most once a minute
    revoked_at   timestamptz
);
-- A name means one live token: it is what runs record and what `token revoke NAME` takes.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;
