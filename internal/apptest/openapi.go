package apptest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/q2o/q2o/api"
)

// OpenAPI loads the API's OpenAPI document (api.OpenAPIDocument) and
// checks it, once per test binary.
func OpenAPI() (*openapi3.T, error) {
	d, err := openAPIDoc()
	if err != nil {
		return nil, err
	}
	return d.doc, nil
}

// openAPIValidator is the loaded document, its router and the options its
// answers are validated with.
type openAPIValidator struct {
	doc    *openapi3.T
	router routers.Router
	opts   *openapi3filter.Options
}

var openAPIDoc = sync.OnceValues(func() (*openAPIValidator, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPIDocument)
	if err != nil {
		return nil, fmt.Errorf("load api/openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("api/openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	// Formats beyond OpenAPI's own that the document uses: ids are UUIDv7,
	// which RFC 4122's pattern refuses.
	doc.SetStringFormatValidators(map[string]openapi3.StringFormatValidator{
		"uuid":  openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562),
		"email": openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForEmail),
		"uri":   openapi3.NewRegexpFormatValidator(`^[a-zA-Z][a-zA-Z0-9+.-]*://[^\s]+$`),
	})
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route api/openapi.yaml: %w", err)
	}
	return &openAPIValidator{doc: doc, router: router, opts: &openapi3filter.Options{
		IncludeResponseStatus:   true, // a status the document does not list is a mismatch
		MultiError:              true,
		SchemaValidationOptions: doc.GetSchemaValidationOptions(),
	}}, nil
})

// notValidated are the routes whose answers are not the API's own: the
// asynq web UI and the Prometheus metrics. They are in the document all the
// same.
var notValidated = regexp.MustCompile(`^(/monitoring(/|$)|/metrics$)`)

// CheckOpenAPI fails t when an answer to req does not match the OpenAPI
// document: a status the route does not list, a content type it does not
// list, or a body that does not match the schema. A request the document
// has no route for (an unknown path, a wrong method) is not checked: a test
// of such a request checks the answer itself.
func CheckOpenAPI(t testing.TB, req *http.Request, res Response) {
	t.Helper()
	if notValidated.MatchString(req.URL.Path) {
		return
	}
	v, err := openAPIDoc()
	if err != nil {
		t.Errorf("openapi: %v", err)
		return
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route, Options: v.opts,
		},
		Status:  res.Status,
		Header:  res.Header,
		Body:    io.NopCloser(bytes.NewReader(res.Body)),
		Options: v.opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("openapi: %s %s (route %s) answered %d, which api/openapi.yaml does not describe: %s\nbody: %.500s",
			req.Method, req.URL.Path, route.Path, res.Status, oneLine(err), res.Body)
	}
}

// oneLine shortens a validation error, whose text may quote whole schemas
// and values, to one line of at most 2000 bytes.
func oneLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 2000 {
		s = s[:2000] + "…"
	}
	return s
}
