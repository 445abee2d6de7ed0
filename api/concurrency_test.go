package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/q2o/q2o/internal/apptest"
)

// call is one request of a race.
type call struct {
	method, path, token string
	body                any
}

// race sends n requests at once (call(i) says which) and returns their
// answers in order. Only the sending happens on other goroutines: the
// requests are built, failures reported and every answer checked against
// the OpenAPI document here, on the test's own goroutine, where t.Fatal
// belongs.
func race(t *testing.T, a *apptest.App, n int, call func(i int) call) []apptest.Response {
	t.Helper()
	reqs := make([]*http.Request, n)
	bodies := make([][]byte, n)
	for i := range n {
		c := call(i)
		if c.body != nil {
			var err error
			if s, ok := c.body.(string); ok {
				bodies[i] = []byte(s)
			} else if bodies[i], err = json.Marshal(c.body); err != nil {
				t.Fatal(err)
			}
		}
		req, err := http.NewRequest(c.method, a.URL+c.path, bytes.NewReader(bodies[i]))
		if err != nil {
			t.Fatal(err)
		}
		if c.body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		reqs[i] = req
	}
	out := make([]apptest.Response, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := http.DefaultClient.Do(reqs[i])
			if err != nil {
				errs[i] = err
				return
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			out[i], errs[i] = apptest.Response{Status: res.StatusCode, Header: res.Header, Body: b}, err
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d of %d: %v", i+1, n, errs[i])
		}
		reqs[i].Body = io.NopCloser(bytes.NewReader(bodies[i]))
		apptest.CheckOpenAPI(t, reqs[i], out[i])
	}
	return out
}

// statusCounts counts answers by status.
func statusCounts(rs []apptest.Response) map[int]int {
	out := map[int]int{}
	for _, r := range rs {
		out[r.Status]++
	}
	return out
}
