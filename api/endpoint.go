package api

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
)

// Typed endpoints, in the shape of riverqueue/riverui's apiendpoint: a
// handler is func(ctx, *Req) (*Resp, error), and mount does the rest the
// same way for every route — bind the path, query and headers (binder),
// decode the JSON body (bodied), validate the request (validator), call the
// handler once, and encode its answer with the status the route declares.
// A failure at any step is returned to Echo, so the one HTTPErrorHandler
// (errors.go) answers it; client input is refused there with a *models.Error,
// never a 500.
//
// Streams, downloads and the Stripe webhook are plain echo.HandlerFuncs:
// they write their own answer as it goes (SSE, a file through
// http.ServeContent) or need the raw body (the webhook's signature).

// endpoint declares a route: its method and path, the status of a success
// (200, 201, 202 or 204, which answers no body) and whether a success is
// Cache-Control: no-store (its body holds a credential or a code's
// project).
type endpoint struct {
	method, path string
	status       int
	noStore      bool
}

// The endpoints of each method, with the status of their success.
func get(path string, status int) endpoint {
	return endpoint{method: http.MethodGet, path: path, status: status}
}
func post(path string, status int) endpoint {
	return endpoint{method: http.MethodPost, path: path, status: status}
}
func put(path string, status int) endpoint {
	return endpoint{method: http.MethodPut, path: path, status: status}
}
func patch(path string, status int) endpoint {
	return endpoint{method: http.MethodPatch, path: path, status: status}
}
func del(path string, status int) endpoint {
	return endpoint{method: http.MethodDelete, path: path, status: status}
}

// withNoStore makes a success answer Cache-Control: no-store.
func (e endpoint) withNoStore() endpoint {
	e.noStore = true
	return e
}

// router is what routes are added to: *echo.Echo or an *echo.Group.
type router interface {
	Add(method, path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) *echo.Route
}

// binder is a request that reads path parameters, the query string or
// headers. A malformed id answers the 404 of what it would have named.
// The query parameters a GET's binder reads (c.QueryParam) are the ones its
// route takes: when it takes any, any other is refused with 400
// unknown_parameter, so a typo (?stauts=failed) is not silently an
// unfiltered list. A binder reads every parameter it takes, given or not.
// (A route that takes none ignores a query string, as a probe's or a
// cache-buster's.)
type binder interface {
	bind(c echo.Context) error
}

// bodied is a request with a JSON body: body returns where decode puts it.
type bodied interface {
	body() any
}

// validator is a request that checks itself once bound and decoded.
// Errors are *models.Error (400 and the like), never internal ones.
type validator interface {
	Validate() error
}

// none is the request of an endpoint that reads nothing but its context.
type none struct{}

// noContent is the answer of a 204 endpoint: nothing.
type noContent struct{}

// mount adds the endpoint ep, answered by handle, to r behind mw.
func mount[Req, Resp any](r router, ep endpoint, handle func(ctx context.Context, req *Req) (*Resp, error),
	mw ...echo.MiddlewareFunc,
) *echo.Route {
	switch ep.status {
	case http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusNoContent:
	default:
		panic(fmt.Sprintf("api: %s %s: a success answers 200, 201, 202 or 204, not %d", ep.method, ep.path, ep.status))
	}
	return r.Add(ep.method, ep.path, func(c echo.Context) error {
		var req Req
		if b, ok := any(&req).(binder); ok {
			qc := &queryReader{Context: c}
			if err := b.bind(qc); err != nil {
				return err
			}
			if ep.method == http.MethodGet {
				if err := qc.unknown(); err != nil {
					return err
				}
			}
		}
		if b, ok := any(&req).(bodied); ok {
			if err := decode(c, b.body()); err != nil {
				return err
			}
		}
		if v, ok := any(&req).(validator); ok {
			if err := v.Validate(); err != nil {
				return err
			}
		}
		resp, err := handle(c.Request().Context(), &req)
		if err != nil {
			return err
		}
		if ep.status == http.StatusNoContent {
			return c.NoContent(http.StatusNoContent)
		}
		if resp == nil {
			return errors.New("api: " + ep.method + " " + ep.path + ": the handler answered nothing")
		}
		if ep.noStore {
			c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		}
		return c.JSON(ep.status, resp)
	}, mw...)
}

// answer turns a service call's (value, error) into a handler's: the value's
// address, or the error alone.
func answer[T any](v T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// queryReader is the echo.Context a binder reads: it notes the query
// parameters read, so that mount refuses the others.
type queryReader struct {
	echo.Context
	read map[string]bool
}

func (q *queryReader) QueryParam(name string) string {
	if q.read == nil {
		q.read = map[string]bool{}
	}
	q.read[name] = true
	return q.Context.QueryParam(name)
}

// unknown refuses a query parameter that was not read, naming it, when the
// binder read any.
// Errors: unknown_parameter (400).
func (q *queryReader) unknown() error {
	if len(q.read) == 0 {
		return nil
	}
	var names []string
	for name := range q.Context.QueryParams() {
		if !q.read[name] {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	return models.FieldError(names[0], "unknown_parameter", "unknown query parameter %q: this route takes only %s",
		names[0], strings.Join(slices.Sorted(maps.Keys(q.read)), ", "))
}
