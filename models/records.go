package models

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Plan is a subscription plan and its limits.
type Plan struct {
	Code              string  `gorm:"primaryKey" json:"code"`
	Name              string  `json:"name"`
	StripePriceID     *string `json:"-"`
	PriceCents        int     `json:"price_cents"`
	Currency          string  `json:"currency"`
	MonthlyCodeQuota  int     `json:"monthly_code_quota"`
	MaxConcurrentRuns int     `json:"max_concurrent_runs"`
	// MonthlyRunQuota bounds the runs a tenant starts in a calendar month
	// (UTC); nil is no limit.
	MonthlyRunQuota *int `json:"monthly_run_quota"`
	SortOrder       int  `json:"-"`
}

// Tenant is a company using q2o.
type Tenant struct {
	ID               uuid.UUID `gorm:"type:uuid;primaryKey" json:"id"`
	Name             string    `json:"name"`
	Email            string    `json:"email"`
	Phone            *string   `json:"phone"`
	LogoURL          *string   `json:"logo_url"`
	PrimaryColor     *string   `json:"primary_color"`
	Domain           *string   `json:"domain"`
	PlanCode         string    `json:"plan"`
	StripeCustomerID *string   `json:"-"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
}

// Subscription is a tenant's one subscription.
type Subscription struct {
	TenantID             uuid.UUID          `gorm:"type:uuid;primaryKey" json:"-"`
	StripeSubscriptionID *string            `json:"-"`
	Status               SubscriptionStatus `json:"status"`
	CurrentPeriodEnd     *time.Time         `json:"current_period_end"`
	TrialEnd             *time.Time         `json:"trial_end"`
	CancelAtPeriodEnd    bool               `json:"cancel_at_period_end"`
	StripeEventCreated   *time.Time         `json:"-"`
	UpdatedAt            time.Time          `json:"updated_at"`
}

// APIKey is a tenant's API key; only its hash and a visible prefix are kept.
type APIKey struct {
	ID         uuid.UUID `gorm:"type:uuid;primaryKey"`
	TenantID   uuid.UUID `gorm:"type:uuid"`
	Prefix     string
	KeyHash    []byte
	Name       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// ActivationCode is a code a tenant assigns to a project and gives to its
// client; only its hash is kept, with a short hint to tell codes apart.
type ActivationCode struct {
	ID        uuid.UUID  `gorm:"type:uuid;primaryKey" json:"id"`
	TenantID  uuid.UUID  `gorm:"type:uuid" json:"-"`
	CodeHash  []byte     `json:"-"`
	CodeHint  string     `json:"hint"`
	MaxUses   int        `json:"max_uses"`
	UseCount  int        `json:"use_count"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	Month     time.Time  `gorm:"type:date" json:"-"`
	CreatedAt time.Time  `json:"created_at"`
}

// Project is the seed's LLMProjectConfig: what a tenant asks main.py to build,
// and the state of its latest run.
type Project struct {
	ID                   uuid.UUID        `gorm:"type:uuid;primaryKey" json:"id"`
	TenantID             uuid.UUID        `gorm:"type:uuid" json:"tenant_id"`
	Name                 string           `json:"name"`
	Description          string           `json:"description"`
	Objectives           string           `json:"objectives"`
	IsActive             bool             `json:"is_active"`
	ActivationCodeID     *uuid.UUID       `gorm:"type:uuid" json:"activation_code_id"`
	ExecutionStatus      *ExecutionStatus `json:"execution_status"`
	ExecutionStartedAt   *time.Time       `json:"execution_started_at"`
	ExecutionCompletedAt *time.Time       `json:"execution_completed_at"`
	ExecutionError       *string          `json:"execution_error"`
	OutputFolderPath     *string          `json:"output_folder_path"`
	Progress             int              `json:"progress"`
	ProgressMessage      string           `json:"progress_message"`
	LatestExecutionID    *uuid.UUID       `gorm:"type:uuid" json:"latest_execution_id"`
	// QueuePosition is the place of the project's waiting run in its
	// tenant's queue (1: next), while it waits for a slot; not stored.
	QueuePosition *int      `gorm:"-" json:"queue_position"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Execution is one RUN of a project; its id is the asynq TaskID.
type Execution struct {
	ID         uuid.UUID       `gorm:"type:uuid;primaryKey" json:"id"`
	ProjectID  uuid.UUID       `gorm:"type:uuid" json:"project_id"`
	TenantID   uuid.UUID       `gorm:"type:uuid" json:"-"`
	Status     ExecutionStatus `json:"status"`
	Attempt    int             `json:"attempt"`
	OutputDir  string          `json:"output_folder_path"`
	LogPath    *string         `json:"-"`
	ExitCode   *int            `json:"exit_code"`
	Error      *string         `json:"error"`
	WorkerID   *string         `json:"-"`
	LeaseUntil *time.Time      `json:"-"`
	QueuedAt   time.Time       `json:"queued_at"`
	// DispatchedAt is when the run got a slot and its task went to Redis;
	// nil while it waits its turn (plan limit, fair share).
	DispatchedAt *time.Time `json:"dispatched_at"`
	StartedAt    *time.Time `json:"started_at"`
	FinishedAt   *time.Time `json:"finished_at"`
	ZipPath      *string    `json:"-"`
	ZipSize      *int64     `json:"zip_size"`
	ZipSHA256    *string    `gorm:"column:zip_sha256" json:"zip_sha256"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

// ExecutionEvent is one thing that happened to an execution.
type ExecutionEvent struct {
	ID          int64     `gorm:"primaryKey" json:"id"`
	ExecutionID uuid.UUID `gorm:"type:uuid" json:"-"`
	Kind        string    `json:"kind"`
	Message     string    `json:"message"`
	Progress    *int      `json:"progress,omitempty"`
	Attempt     int       `json:"attempt"`
	CreatedAt   time.Time `json:"created_at"`
}

// Event kinds.
const (
	EventQueued    = "queued"
	EventStarted   = "started"
	EventProgress  = "progress"
	EventCompleted = "completed"
	EventFailed    = "failed"
	EventPaused    = "paused"
	EventCancelled = "cancelled"
	EventRetrying  = "retrying"
	EventZipped    = "zipped"
)

// OutboxMessage is a task written in the same transaction as the rows it acts
// on, sent to Redis after commit.
type OutboxMessage struct {
	ID            int64 `gorm:"primaryKey"`
	TaskType      string
	TaskID        string
	Queue         string
	Payload       json.RawMessage `gorm:"type:jsonb"`
	Attempts      int
	LastError     *string
	NextAttemptAt time.Time
	EnqueuedAt    *time.Time
	CreatedAt     time.Time
}

// TableName keeps GORM off its pluralising guess.
func (OutboxMessage) TableName() string { return "outbox" }

// TableName keeps GORM off its pluralising guess.
func (ExecutionEvent) TableName() string { return "execution_events" }

// NewID returns a new time-ordered (v7) id.
func NewID() uuid.UUID { return uuid.Must(uuid.NewV7()) }
