package api_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/q2o/q2o/api"
	"github.com/q2o/q2o/internal/apptest"
)

// Redocly's CLI (`npx @redocly/cli lint`, recommended rules) is not at hand
// offline, so these tests check, over the parsed document, the rules it
// reported against this document (struct, no-unused-components) and a few
// more of its recommended ones.

// walk calls fn for every mapping of the YAML tree, with its JSON pointer.
func walk(n any, at string, fn func(at string, m map[string]any)) {
	switch v := n.(type) {
	case map[string]any:
		fn(at, v)
		for k, c := range v {
			walk(c, at+"/"+k, fn)
		}
	case []any:
		for i, c := range v {
			walk(c, fmt.Sprintf("%s/%d", at, i), fn)
		}
	}
}

func rawDocument(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(api.OpenAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// OpenAPI 3.0 allows nullable only beside a type (Redocly: "The nullable
// property is only allowed if the type property is set").
func TestOpenAPINullableHasType(t *testing.T) {
	t.Parallel()
	walk(rawDocument(t), "#", func(at string, m map[string]any) {
		if _, ok := m["nullable"]; ok && m["type"] == nil && !strings.Contains(at, "/x-") {
			t.Errorf("%s: nullable without type", at)
		}
	})
}

// Every component is used: referenced from outside its own definition, and
// not only from an x- extension (which a linter does not read as a schema).
func TestOpenAPINoUnusedComponents(t *testing.T) {
	t.Parallel()
	doc := rawDocument(t)
	used := map[string]bool{}
	walk(doc, "#", func(at string, m map[string]any) {
		ref, ok := m["$ref"].(string)
		if !ok || strings.Contains(at, "/x-") || strings.HasPrefix(at+"/", ref+"/") {
			return
		}
		used[ref] = true
	})
	components, _ := doc["components"].(map[string]any)
	for kind, defs := range components {
		if kind == "securitySchemes" {
			continue // used through security, not $ref
		}
		for name := range defs.(map[string]any) {
			if ref := "#/components/" + kind + "/" + name; !used[ref] {
				t.Errorf("%s is never referenced", ref)
			}
		}
	}
}

// Every operation has a unique operationId, a summary, a tag and a 4xx
// answer (Redocly: operation-operationId-unique, operation-summary,
// operation-tag-defined, operation-4xx-response).
func TestOpenAPIOperationsAreDescribed(t *testing.T) {
	t.Parallel()
	doc, err := apptest.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, tag := range doc.Tags {
		tags = append(tags, tag.Name)
	}
	ids := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if prev, dup := ids[op.OperationID]; dup || op.OperationID == "" {
				t.Errorf("%s: operationId %q is empty or also %s's", where, op.OperationID, prev)
			}
			ids[op.OperationID] = where
			if op.Summary == "" {
				t.Errorf("%s: no summary", where)
			}
			for _, tag := range op.Tags {
				if !slices.Contains(tags, tag) {
					t.Errorf("%s: tag %q is not declared", where, tag)
				}
			}
			has4xx := false
			for status := range op.Responses.Map() {
				has4xx = has4xx || strings.HasPrefix(status, "4")
			}
			if !has4xx && method != http.MethodHead && !strings.HasPrefix(path, "/healthz") && !strings.HasPrefix(path, "/readyz") &&
				path != "/api/openapi.yaml" {
				t.Errorf("%s: no 4xx answer", where)
			}
		}
	}
}

// errRecorder is a testing.TB that keeps the errors reported to it.
type errRecorder struct {
	testing.TB
	errs []string
}

func (r *errRecorder) Helper() {}
func (r *errRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// An event stream's body is checked event by event against the route's
// payload schema: a real one passes, one with a wrong event fails.
func TestOpenAPIEventStreamBody(t *testing.T) {
	t.Parallel()
	a := apptest.New(t, apptest.Options{})
	tn := a.NewTenant("active")
	pid := a.ReadyProject(tn, "streamed")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", a.URL+"/api/tenant/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tn.Key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	a.Must(http.StatusAccepted, a.Do("POST", "/api/tenant/projects/"+pid+"/run", tn.Key, nil))
	var body []byte
	buf := make([]byte, 4096)
	for !strings.Contains(string(body), "\n\n") || !strings.Contains(string(body), "data:") {
		n, err := res.Body.Read(buf)
		body = append(body, buf[:n]...)
		if err != nil {
			t.Fatalf("stream ended before an event: %v: %s", err, body)
		}
	}
	check := func(b []byte) []string {
		rec := &errRecorder{TB: t}
		apptest.CheckOpenAPI(rec, req, apptest.Response{Status: res.StatusCode, Header: res.Header, Body: b})
		return rec.errs
	}
	if errs := check(body); len(errs) > 0 {
		t.Errorf("a real stream does not match its schema: %v\n%s", errs, body)
	}
	bad := append(append([]byte(nil), body...), "id: 1-0\nevent: pending\ndata: {\"kind\":\"pending\"}\n\n"...)
	if errs := check(bad); len(errs) == 0 {
		t.Errorf("an event without its fields passed the schema:\n%s", bad)
	}
}
