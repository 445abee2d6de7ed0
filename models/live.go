package models

import (
	"time"

	"github.com/google/uuid"
)

// ProjectEvent is a change of a project's run that clients may follow live:
// a status change or a progress update.
type ProjectEvent struct {
	TenantID    uuid.UUID `json:"tenant_id"`
	ProjectID   uuid.UUID `json:"project_id"`
	ExecutionID uuid.UUID `json:"execution_id"`
	// Kind is what changed: the status the run moved to (pending, running,
	// completed, failed, paused), LiveProgress, or LiveZipped.
	Kind   string          `json:"kind"`
	Status ExecutionStatus `json:"status"`
	// Progress is the run's progress (0–100) as of this event.
	Progress int       `json:"progress"`
	Message  string    `json:"message"`
	At       time.Time `json:"at"`
}

// The kinds of ProjectEvent that are not a status.
const (
	LiveProgress = "progress" // a PROGRESS line of main.py
	LiveZipped   = "zipped"   // the completed run's zip is ready to download
)
