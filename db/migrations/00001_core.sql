-- +goose Up
-- The core schema: plans, tenants and their subscriptions, API keys,
-- activation codes, projects (with the seed's migration 008 execution fields),
-- executions, their events, and the outbox.

CREATE TABLE plans (
    code                   text PRIMARY KEY,
    name                   text NOT NULL,
    stripe_price_id        text,
    price_cents            integer NOT NULL DEFAULT 0 CHECK (price_cents >= 0),
    currency               text NOT NULL DEFAULT 'usd',
    monthly_code_quota     integer NOT NULL CHECK (monthly_code_quota >= 0),
    max_concurrent_runs    integer NOT NULL CHECK (max_concurrent_runs > 0),
    sort_order             integer NOT NULL DEFAULT 0,
    created_at             timestamptz NOT NULL DEFAULT now()
);

INSERT INTO plans (code, name, price_cents, monthly_code_quota, max_concurrent_runs, sort_order) VALUES
    ('trial',   'Trial',   0,     5,   1,  0),
    ('starter', 'Starter', 4900,  50,  3,  1),
    ('pro',     'Pro',     19900, 500, 10, 2);

CREATE TABLE tenants (
    id                 uuid PRIMARY KEY,
    name               text NOT NULL CHECK (btrim(name) <> ''),
    email              text NOT NULL CHECK (btrim(email) <> ''),
    phone              text,
    logo_url           text,
    primary_color      text,
    domain             text,
    plan_code          text NOT NULL REFERENCES plans (code),
    stripe_customer_id text UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tenants_email_key ON tenants (lower(email));

CREATE TABLE subscriptions (
    tenant_id              uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    stripe_subscription_id text UNIQUE,
    status                 text NOT NULL CHECK (status IN ('active', 'trialing', 'past_due', 'canceled',
                               'unpaid', 'incomplete', 'incomplete_expired', 'paused', 'suspended')),
    current_period_end     timestamptz,
    trial_end              timestamptz,
    cancel_at_period_end   boolean NOT NULL DEFAULT false,
    stripe_event_created   timestamptz,
    updated_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    prefix       text NOT NULL UNIQUE,
    key_hash     bytea NOT NULL,
    name         text NOT NULL DEFAULT 'default',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);

CREATE TABLE activation_codes (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    code_hash    bytea NOT NULL UNIQUE,
    code_hint    text NOT NULL,
    max_uses     integer NOT NULL DEFAULT 1 CHECK (max_uses > 0),
    use_count    integer NOT NULL DEFAULT 0 CHECK (use_count >= 0 AND use_count <= max_uses),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    month        date NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activation_codes_tenant_month_idx ON activation_codes (tenant_id, month);

CREATE TABLE projects (
    id                     uuid PRIMARY KEY,
    tenant_id              uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                   text NOT NULL,
    description            text NOT NULL,
    objectives             text NOT NULL,
    is_active              boolean NOT NULL DEFAULT true,
    activation_code_id     uuid REFERENCES activation_codes (id),
    -- migration 008's execution fields
    execution_status       text CHECK (execution_status IN ('pending', 'running', 'completed', 'failed', 'paused')),
    execution_started_at   timestamptz,
    execution_completed_at timestamptz,
    execution_error        text,
    output_folder_path     text,
    progress               integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    progress_message       text NOT NULL DEFAULT '',
    latest_execution_id    uuid,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
-- migration 008's two indexes
CREATE INDEX idx_projects_execution_status ON projects (execution_status);
CREATE INDEX idx_projects_activation_code_id ON projects (activation_code_id);
CREATE INDEX projects_tenant_idx ON projects (tenant_id, updated_at DESC);

CREATE TABLE executions (
    id              uuid PRIMARY KEY,
    project_id      uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    status          text NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'paused')),
    attempt         integer NOT NULL DEFAULT 0,
    output_dir      text NOT NULL,
    log_path        text,
    exit_code       integer,
    error           text,
    worker_id       text,
    lease_until     timestamptz,
    queued_at       timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    zip_path        text,
    zip_size        bigint,
    zip_sha256      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX executions_project_idx ON executions (project_id, created_at DESC);
-- At most one live run per project, whatever the application does.
CREATE UNIQUE INDEX executions_one_live_per_project ON executions (project_id)
    WHERE status IN ('pending', 'running');
CREATE INDEX executions_tenant_live_idx ON executions (tenant_id)
    WHERE status IN ('pending', 'running');

ALTER TABLE projects ADD CONSTRAINT projects_latest_execution_fk
    FOREIGN KEY (latest_execution_id) REFERENCES executions (id) DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE execution_events (
    id           bigserial PRIMARY KEY,
    execution_id uuid NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    kind         text NOT NULL,
    message      text NOT NULL DEFAULT '',
    progress     integer,
    attempt      integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX execution_events_execution_idx ON execution_events (execution_id, id);

CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    task_type       text NOT NULL,
    task_id         text NOT NULL,
    queue           text NOT NULL,
    payload         jsonb NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    enqueued_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_pending_idx ON outbox (next_attempt_at) WHERE enqueued_at IS NULL;

-- +goose Down
DROP TABLE outbox;
DROP TABLE execution_events;
ALTER TABLE projects DROP CONSTRAINT projects_latest_execution_fk;
DROP TABLE executions;
DROP TABLE projects;
DROP TABLE activation_codes;
DROP TABLE api_keys;
DROP TABLE subscriptions;
DROP TABLE tenants;
DROP TABLE plans;
