package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

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
