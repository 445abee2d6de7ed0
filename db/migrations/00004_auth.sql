-- +goose Up
-- OTP sign-in for the tenant portal: one pending code per tenant and the
-- sessions it opens. Only SHA-256 hashes are kept; the code goes out by mail
-- and the token is shown once, in the verify answer.

CREATE TABLE otp_codes (
    -- one code per tenant: a new request replaces the previous one
    tenant_id   uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    code_hash   bytea NOT NULL,
    -- wrong tries; at 5 the code is burnt and even the right code fails
    attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- the token is q2s_<prefix>_<secret>; the prefix finds the row, the hash
    -- of the whole token is compared in constant time
    prefix      text NOT NULL UNIQUE,
    token_hash  bytea NOT NULL,
    expires_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_tenant_idx ON sessions (tenant_id);

-- +goose Down
DROP TABLE sessions;
DROP TABLE otp_codes;
