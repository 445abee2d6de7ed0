package worker

import (
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/q2o/q2o/models"
)

// A handler says what asynq does next through its return value, as river's
// JobSnooze and JobCancel do: nil ends the task, an error wrapping
// asynq.SkipRetry archives it (a retry would not help), a snoozeError puts
// it back for later without counting as a failure, and any other error is
// retried with asynq's backoff.

// snoozeError is the verdict for a delivery that may not run yet (another
// worker holds the execution, or the project's previous run is still
// ending): asynq retries it after the given time, and it is no failure.
type snoozeError struct {
	after  time.Duration
	reason error
}

func (e *snoozeError) Error() string {
	return fmt.Sprintf("%v; trying again in %s", e.reason, e.after)
}

func (e *snoozeError) Unwrap() error { return e.reason }

// snooze puts the task back for after, for reason.
func snooze(after time.Duration, reason error) error {
	return &snoozeError{after: after, reason: reason}
}

// snoozed reports whether err is a snooze and for how long. It is the one
// place a snooze is read; the server's IsFailure and RetryDelayFunc ask it.
func snoozed(err error) (time.Duration, bool) {
	var s *snoozeError
	if errors.As(err, &s) {
		return s.after, true
	}
	return 0, false
}

// isFailure tells asynq whether err counts as a failed attempt.
func isFailure(err error) bool {
	_, ok := snoozed(err)
	return !ok
}

// retryDelay is the snooze's delay, or asynq's backoff for anything else.
func retryDelay(n int, err error, t *asynq.Task) time.Duration {
	if after, ok := snoozed(err); ok {
		return after
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}

// taskError is the verdict on an error from the service before a task's
// work began: one of its application errors (the execution does not exist,
// a rule refused) will not change on a retry; anything else (the database,
// Redis) may.
func taskError(err error) error {
	var appErr *models.Error
	if errors.As(err, &appErr) {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return err
}
