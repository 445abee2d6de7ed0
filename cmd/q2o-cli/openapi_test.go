package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/q2o/q2o/internal/apptest"
)

// checkedAPI is a proxy in front of the API that fails the test when q2o-cli
// sends a request api/openapi.yaml does not describe (an unknown route or
// method, a body or parameter that does not match), or gets an answer it does
// not describe: the CLI and the document cannot drift apart unseen. Streams
// (SSE) are passed on as they come, their requests checked.
func checkedAPI(t *testing.T, target string) string {
	t.Helper()
	router := openAPIRouter(t)
	return serve(t, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Header = r.Header.Clone()
		route, params, err := router.FindRoute(out)
		if err != nil {
			t.Errorf("openapi: q2o-cli sent %s %s, which api/openapi.yaml does not have: %v", r.Method, r.URL.Path, err)
		} else {
			check := out.Clone(context.Background())
			check.Body = io.NopCloser(bytes.NewReader(body))
			in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
			if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
				t.Errorf("openapi: q2o-cli's %s %s does not match api/openapi.yaml: %.1000s", r.Method, r.URL.Path, err)
			}
		}
		res, ok := forward(w, out)
		if !ok {
			return
		}
		defer res.Body.Close()
		if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
			w.WriteHeader(res.StatusCode)
			w.(http.Flusher).Flush()
			buf := make([]byte, 32<<10)
			for {
				n, err := res.Body.Read(buf)
				if n > 0 {
					_, _ = w.Write(buf[:n])
					w.(http.Flusher).Flush()
				}
				if err != nil {
					return
				}
			}
		}
		b, err := io.ReadAll(res.Body)
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		out.Body = io.NopCloser(bytes.NewReader(body))
		apptest.CheckOpenAPI(t, out, apptest.Response{Status: res.StatusCode, Header: res.Header, Body: b})
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(b)
	})
}

// serve serves h on a port of its own until the test ends, and returns its
// URL.
func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// reverseProxy passes requests on to target, flushing as it goes (streams).
func reverseProxy(t *testing.T, target string) *httputil.ReverseProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	return rp
}

// forward sends req on and copies its answer's headers to w; no answer is
// a 502 written to w, and false.
func forward(w http.ResponseWriter, req *http.Request) (*http.Response, bool) {
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return nil, false
	}
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	return res, true
}

var openAPIRouterOnce = sync.OnceValues(func() (routers.Router, error) {
	doc, err := apptest.OpenAPI()
	if err != nil {
		return nil, err
	}
	return gorillamux.NewRouter(doc)
})

func openAPIRouter(t *testing.T) routers.Router {
	t.Helper()
	r, err := openAPIRouterOnce()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestFieldsAreInTheDocument checks that every JSON field the CLI reads from
// a live event is one api/openapi.yaml gives: the answers' types are
// generated from the document (internal/apiclient), the events' data, which
// the document describes but the generator does not type, is read by hand.
func TestFieldsAreInTheDocument(t *testing.T) {
	doc, err := apptest.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		schema string
		v      any
	}{
		{"ProjectEvent", runState{}},
	} {
		ref := doc.Components.Schemas[tc.schema]
		if ref == nil {
			t.Errorf("no schema %s in api/openapi.yaml", tc.schema)
			continue
		}
		checkFields(t, tc.schema, reflect.TypeOf(tc.v), ref.Value)
	}
}

func checkFields(t *testing.T, where string, typ reflect.Type, s *openapi3.Schema) {
	t.Helper()
	props := map[string]*openapi3.SchemaRef{}
	var collect func(*openapi3.Schema)
	collect = func(s *openapi3.Schema) {
		for k, v := range s.Properties {
			props[k] = v
		}
		for _, a := range s.AllOf {
			collect(a.Value)
		}
	}
	collect(s)
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		p, ok := props[name]
		if !ok {
			t.Errorf("%s.%s: the CLI reads %q, which api/openapi.yaml's schema does not have", where, f.Name, name)
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Time{}) {
			checkFields(t, where+"."+name, ft, p.Value)
		}
	}
}
