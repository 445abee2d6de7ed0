-- +goose Up
-- Client sessions: a client who types its activation code in the portal gets
-- a short-lived token for that one project, so that the code can leave the
-- address bar (and the browser's history). A session opens its project only
-- while it has not expired and while its activation code still opens the
-- project; it is kept as a SHA-256 hash, like every secret.

CREATE TABLE client_sessions (
    id                 uuid PRIMARY KEY,
    -- the token is q2c_<prefix>_<secret>; the prefix finds the row, the
    -- hash of the whole token is compared in constant time
    prefix             text NOT NULL UNIQUE,
    token_hash         bytea NOT NULL,
    project_id         uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- the code the session was opened with: revoking it ends the session
    activation_code_id uuid NOT NULL REFERENCES activation_codes (id) ON DELETE CASCADE,
    expires_at         timestamptz NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX client_sessions_project_idx ON client_sessions (project_id, expires_at);
CREATE INDEX client_sessions_code_idx ON client_sessions (activation_code_id);

-- +goose Down
DROP TABLE client_sessions;
