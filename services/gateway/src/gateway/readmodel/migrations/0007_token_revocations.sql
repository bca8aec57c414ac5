-- Every gateway keeps the tokens it found for a few seconds (`gateway.auth.token_cache`) and
-- drops one the moment PostgreSQL says it was revoked or deleted: whoever revokes it (the API,
-- `commandcenter token revoke`, an operator's own UPDATE) goes through this trigger.

CREATE FUNCTION cc_notify_token_revoked() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cc_token_revoked', OLD.id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER api_tokens_revoked
AFTER UPDATE OF revoked_at, scopes, secret_hash OR DELETE ON api_tokens
FOR EACH ROW EXECUTE FUNCTION cc_notify_token_revoked();
