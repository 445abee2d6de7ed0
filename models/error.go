// Package models holds q2o's domain: the records (as GORM models), their
// statuses, and the pure rules of the product (who may create and run what).
// It does no I/O.
package models

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind is the class of an application error; each kind is one HTTP status
// (HTTPStatus), the same for the API and the portal.
type Kind int

// HTTPStatus is the status an answer refused with this kind carries: the one
// mapping from kinds to statuses, used by the API's error handler and the
// portal's pages alike.
func (k Kind) HTTPStatus() int {
	switch k {
	case KindInvalid:
		return http.StatusBadRequest
	case KindUnauthorized:
		return http.StatusUnauthorized
	case KindPaymentRequired:
		return http.StatusPaymentRequired
	case KindForbidden:
		return http.StatusForbidden
	case KindNotFound:
		return http.StatusNotFound
	case KindConflict:
		return http.StatusConflict
	case KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case KindUnprocessable:
		return http.StatusUnprocessableEntity
	case KindRateLimited:
		return http.StatusTooManyRequests
	case KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// The kinds of application error.
const (
	KindInternal        Kind = iota // a fault of ours; details are logged, never sent
	KindInvalid                     // the request is malformed or a field is wrong (400)
	KindUnauthorized                // no or bad credentials (401)
	KindPaymentRequired             // the subscription does not allow it (402)
	KindForbidden                   // the plan does not allow it (403)
	KindNotFound                    // no such thing for this caller (404)
	KindConflict                    // the thing's state forbids it now (409)
	KindTooLarge                    // the body is too large (413)
	KindUnprocessable               // a rule refused a well-formed request (422)
	KindRateLimited                 // too many requests (429)
	KindUnavailable                 // a dependency is down (503)
)

// Error is an application error: a stable machine code, a message fit for the
// client, and, for validation errors, the field at fault.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Field   string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (field %s)", e.Code, e.Message, e.Field)
	}
	return e.Code + ": " + e.Message
}

// Errorf makes an application error.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError is a validation error about one request field.
func FieldError(field, code, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Code: code, Message: fmt.Sprintf(format, args...), Field: field}
}

// AsError returns the application error inside err, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// ErrorCode returns err's application code, or "internal" for any other error.
func ErrorCode(err error) string {
	if e, ok := AsError(err); ok {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return "internal"
}

// Codes shared by several operations.
var (
	ErrProjectNotFound   = Errorf(KindNotFound, "project_not_found", "no such project")
	ErrExecutionNotFound = Errorf(KindNotFound, "execution_not_found", "no such execution")
	ErrTenantNotFound    = Errorf(KindNotFound, "tenant_not_found", "no such tenant")
	ErrCodeNotFound      = Errorf(KindNotFound, "activation_code_not_found", "no such activation code")
	ErrUnauthorized      = Errorf(KindUnauthorized, "unauthorized", "a valid API key is required: Authorization: Bearer <key>")
)
