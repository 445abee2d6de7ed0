-- +goose Up
-- A change of a tenant's sign-in email waits here until the new address has
-- proved it receives mail: a code sent to it, kept as a hash, like every
-- secret. One pending change per tenant; a new one replaces it.

CREATE TABLE email_changes (
    tenant_id  uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    new_email  text NOT NULL,
    code_hash  bytea NOT NULL,
    attempts   integer NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE email_changes;
