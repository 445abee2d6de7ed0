// Package billingtest makes Stripe webhook deliveries for tests, signed
// with the endpoint secret the way Stripe signs them, and finds or starts
// stripe-mock for outgoing calls.
package billingtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// WebhookSecret is the signing secret tests give the endpoint.
const WebhookSecret = "whsec_test_0123456789abcdef"

var seq atomic.Int64

// EventID returns a new, unique Stripe-like event id.
func EventID() string {
	return fmt.Sprintf("evt_test_%d_%d", time.Now().UnixNano(), seq.Add(1))
}

// Event is a Stripe event body: type, the data object, and when Stripe made
// it. APIVersion defaults to the one stripe-go pins; ID to a new one.
type Event struct {
	ID         string
	Type       string
	Object     map[string]any
	Created    time.Time
	APIVersion string
}

// JSON is the event as Stripe sends it.
func (e Event) JSON(t testing.TB) []byte {
	t.Helper()
	if e.ID == "" {
		e.ID = EventID()
	}
	if e.APIVersion == "" {
		e.APIVersion = stripe.APIVersion
	}
	if e.Created.IsZero() {
		e.Created = time.Now()
	}
	b, err := json.Marshal(map[string]any{
		"id": e.ID, "object": "event", "api_version": e.APIVersion, "created": e.Created.Unix(), "type": e.Type,
		"livemode": false, "pending_webhooks": 1, "data": map[string]any{"object": e.Object},
		"request": map[string]any{"id": nil, "idempotency_key": nil},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Sign returns the Stripe-Signature header of payload for secret at time at
// (now when zero).
func Sign(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header
}

// Response is the webhook's answer.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// Code is the error code of an error answer.
func (r Response) Code() string {
	e, _ := r.Body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// CheckResponse, when set, checks every answer Post gets (the API's tests
// set it to their OpenAPI check; this package cannot import apptest, which
// imports billing).
var CheckResponse func(t testing.TB, req *http.Request, r Response)

// Post sends payload to the webhook at baseURL with the given
// Stripe-Signature header ("" sends none).
func Post(t testing.TB, baseURL string, payload []byte, signature string) Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, baseURL+"/api/webhooks/stripe", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if signature != "" {
		req.Header.Set("Stripe-Signature", signature)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := Response{Status: res.StatusCode, Header: res.Header, Raw: raw}
	_ = json.Unmarshal(raw, &out.Body)
	if CheckResponse != nil {
		req.Body = io.NopCloser(bytes.NewReader(payload))
		CheckResponse(t, req, out)
	}
	return out
}

// Deliver signs the event with WebhookSecret and posts it.
func Deliver(t testing.TB, baseURL string, e Event) Response {
	t.Helper()
	body := e.JSON(t)
	return Post(t, baseURL, body, Sign(body, WebhookSecret, time.Time{}))
}

// Subscription is a Stripe subscription object.
type Subscription struct {
	ID, Customer, Status, Price, TenantID string
	PeriodEnd, TrialEnd                   time.Time
	CancelAtPeriodEnd                     bool
}

// Object is the subscription as the data object of an event.
func (s Subscription) Object() map[string]any {
	unix := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.Unix()
	}
	meta := map[string]any{}
	if s.TenantID != "" {
		meta["tenant_id"] = s.TenantID
	}
	var customer any
	if s.Customer != "" {
		customer = s.Customer
	}
	items := []any{}
	if s.Price != "" {
		items = append(items, map[string]any{"id": "si_" + s.ID, "object": "subscription_item",
			"price": map[string]any{"id": s.Price, "object": "price"}})
	}
	return map[string]any{
		"id": s.ID, "object": "subscription", "customer": customer, "status": s.Status,
		"current_period_end": unix(s.PeriodEnd), "trial_end": unix(s.TrialEnd), "cancel_at_period_end": s.CancelAtPeriodEnd,
		"metadata": meta, "items": map[string]any{"object": "list", "data": items},
	}
}

// StripeMockURL returns the base URL of a stripe-mock: the one named by
// Q2O_TEST_STRIPE_MOCK_URL, one already on 127.0.0.1:12111, or one started
// for the test from PATH or $GOPATH/bin (install it with
// `go install github.com/stripe/stripe-mock@v0.203.0`). Without any, the
// test is skipped only when Q2O_TEST_NO_STRIPE_MOCK is set; otherwise it fails.
func StripeMockURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("Q2O_TEST_STRIPE_MOCK_URL"); u != "" {
		return strings.TrimRight(u, "/")
	}
	if answers("127.0.0.1:12111") {
		return "http://127.0.0.1:12111"
	}
	bin, err := exec.LookPath("stripe-mock")
	if err != nil {
		gopath := os.Getenv("GOPATH")
		if gopath == "" {
			home, _ := os.UserHomeDir()
			gopath = filepath.Join(home, "go")
		}
		bin = filepath.Join(gopath, "bin", "stripe-mock")
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("Q2O_TEST_NO_STRIPE_MOCK") != "" {
				t.Skip("stripe-mock not installed")
			}
			t.Fatal("stripe-mock is not running on :12111 nor installed: go install github.com/stripe/stripe-mock@v0.203.0")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cmd := exec.Command(bin, "-http-addr", addr)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stripe-mock: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for !answers(addr) {
		if time.Now().After(deadline) {
			t.Fatal("stripe-mock did not answer within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "http://" + addr
}

func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
