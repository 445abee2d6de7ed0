-- +goose Up
-- Plan concurrency and fair share. RUN makes a pending execution; it is
-- dispatched (its task sent to Redis) only while the tenant runs fewer than
-- its limit and a worker slot is free, tenants taking turns
-- (last_dispatched_at). Workers say they are there, and how many slots they
-- have, in workers.
ALTER TABLE executions ADD COLUMN dispatched_at timestamptz;
UPDATE executions SET dispatched_at = queued_at WHERE status IN ('pending', 'running');
CREATE INDEX executions_waiting_idx ON executions (tenant_id, queued_at, id)
    WHERE status = 'pending' AND dispatched_at IS NULL;
CREATE INDEX executions_dispatched_idx ON executions (tenant_id)
    WHERE status IN ('pending', 'running') AND dispatched_at IS NOT NULL;

ALTER TABLE tenants ADD COLUMN last_dispatched_at timestamptz;

-- null: no monthly limit on runs.
ALTER TABLE plans ADD COLUMN monthly_run_quota integer CHECK (monthly_run_quota IS NULL OR monthly_run_quota >= 0);
UPDATE plans SET monthly_run_quota = 20 WHERE code = 'trial';
UPDATE plans SET monthly_run_quota = 500 WHERE code = 'starter';

CREATE TABLE workers (
    id           text PRIMARY KEY,
    concurrency  integer NOT NULL CHECK (concurrency > 0),
    seen_at      timestamptz NOT NULL
);

-- +goose Down
DROP TABLE workers;
ALTER TABLE plans DROP COLUMN monthly_run_quota;
ALTER TABLE tenants DROP COLUMN last_dispatched_at;
DROP INDEX executions_dispatched_idx;
DROP INDEX executions_waiting_idx;
ALTER TABLE executions DROP COLUMN dispatched_at;
