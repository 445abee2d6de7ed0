package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/ratelimit"
)

// ErrorBody is the one shape of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is a stable machine code, a message, and the field at fault.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// echoErrors gives Echo's own errors (unknown route, wrong method, body too
// large…) stable codes.
var echoErrors = map[int]ErrorDetail{
	http.StatusNotFound:              {Code: "route_not_found", Message: "no such route"},
	http.StatusMethodNotAllowed:      {Code: "method_not_allowed", Message: "this route does not take that method"},
	http.StatusRequestEntityTooLarge: {Code: "body_too_large", Message: "the request body is too large"},
	http.StatusUnsupportedMediaType:  {Code: "unsupported_media_type", Message: "send application/json"},
	http.StatusUnauthorized:          {Code: "unauthorized", Message: "credentials are required"},
	http.StatusTooManyRequests:       {Code: "rate_limited", Message: "too many requests"},
	http.StatusServiceUnavailable:    {Code: "unavailable", Message: "the service is unavailable; try again shortly"},
}

// errorHandler writes every error as ErrorBody. Internal error text is logged
// with the request id, never sent. A rate-limit refusal
// (*ratelimit.Exceeded) gets its Retry-After here, so no handler sets it.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, detail := http.StatusInternalServerError, ErrorDetail{Code: "internal", Message: "internal error; it has been logged"}
		var appErr *models.Error
		var httpErr *echo.HTTPError
		switch {
		case errors.As(err, &appErr):
			status, detail = appErr.Kind.HTTPStatus(), ErrorDetail{Code: appErr.Code, Message: appErr.Message, Field: appErr.Field}
		case errors.As(err, &httpErr):
			status = httpErr.Code
			if d, ok := echoErrors[status]; ok {
				detail = d
			} else if status < 500 {
				detail = ErrorDetail{Code: "bad_request", Message: http.StatusText(status)}
			}
		case unavailable(err):
			status, detail = http.StatusServiceUnavailable, echoErrors[http.StatusServiceUnavailable]
		}
		if status >= 500 {
			log.ErrorContext(c.Request().Context(), "request failed", "request_id", requestID(c),
				"method", c.Request().Method, "route", c.Path(), "status", status, "error", err)
		}
		var exceeded *ratelimit.Exceeded
		switch {
		case errors.As(err, &exceeded):
			c.Response().Header().Set("Retry-After", strconv.Itoa(exceeded.RetryAfterSeconds()))
		case status == http.StatusServiceUnavailable:
			c.Response().Header().Set("Retry-After", "5")
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(status)
			return
		}
		_ = c.JSON(status, ErrorBody{Error: detail})
	}
}

// unavailable reports whether err means a dependency (Postgres) is out of
// reach rather than a fault in our code.
func unavailable(err error) bool {
	var netErr net.Error
	var connErr *pgconn.ConnectError
	return errors.As(err, &netErr) || errors.As(err, &connErr) || errors.Is(err, context.DeadlineExceeded) ||
		pgconn.Timeout(err)
}
