-- +goose Up
-- A run the tenant stopped is `cancelled`, apart from one billing paused:
-- resume-all resumes only what billing paused.
ALTER TABLE executions DROP CONSTRAINT executions_status_check;
ALTER TABLE executions ADD CONSTRAINT executions_status_check
    CHECK (status IN ('pending', 'running', 'completed', 'failed', 'paused', 'cancelled'));
ALTER TABLE projects DROP CONSTRAINT projects_execution_status_check;
ALTER TABLE projects ADD CONSTRAINT projects_execution_status_check
    CHECK (execution_status IN ('pending', 'running', 'completed', 'failed', 'paused', 'cancelled'));
-- What the tenant cancelled before: the reason told it apart.
UPDATE executions SET status = 'cancelled' WHERE status = 'paused' AND error = 'cancelled by the tenant';
UPDATE projects p SET execution_status = 'cancelled'
  FROM executions e WHERE e.id = p.latest_execution_id AND e.status = 'cancelled' AND p.execution_status = 'paused';

-- +goose Down
UPDATE projects SET execution_status = 'paused' WHERE execution_status = 'cancelled';
UPDATE executions SET status = 'paused' WHERE status = 'cancelled';
ALTER TABLE executions DROP CONSTRAINT executions_status_check;
ALTER TABLE executions ADD CONSTRAINT executions_status_check
    CHECK (status IN ('pending', 'running', 'completed', 'failed', 'paused'));
ALTER TABLE projects DROP CONSTRAINT projects_execution_status_check;
ALTER TABLE projects ADD CONSTRAINT projects_execution_status_check
    CHECK (execution_status IN ('pending', 'running', 'completed', 'failed', 'paused'));
