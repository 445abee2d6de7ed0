package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

// FuzzDecode: whatever the body, decode answers a 400 or 413 application
// error with a stable code, or a value whose every string is the text that
// was sent: valid UTF-8, with a U+FFFD only where the body wrote one (never
// one made up for invalid UTF-8 or half a surrogate pair). `make test` runs
// the seeds; `make fuzz` explores.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `[]`, `null`, `{"name":"Acme","email":"ops@acme.example"}`,
		`{"name":"Acme","email":"ops@acme.example","plan":"pro","subscription_status":"active"}`,
		`{"name":"caf` + "\xe9" + `","email":"a@b.example"}`, `{"name":"\ud800"}`, `{"name":"\udc00x"}`,
		`{"name":"\ud83d\ude00"}`, `{"name":"\\ud800"}`, `{"name":"\ufffd"}`, "{\"name\":\"\uFFFD\"}",
		`{"name":"a","x":1}`, `{"name":5}`, `{"name":"a"}{}`, `{"name":"a"} `, `{"email":null}`,
		`{"phone":null,"domain":"  "}`, `{"code":"123456"}`, `{"name":"` + strings.Repeat("x", 300) + `"}`,
		`{"name":"\u0000"}`, `{"name":"a\u`, `{"name":"\u12"}`, `{"na\xffme":"a"}`,
	} {
		f.Add([]byte(seed))
	}
	e := echo.New()
	f.Fuzz(func(t *testing.T, body []byte) {
		targets := []any{&service.NewTenant{}, &service.ProfileUpdate{}, &service.EmailCode{}, &map[string]any{}}
		for _, v := range targets {
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			c := e.NewContext(req, httptest.NewRecorder())
			err := decode(c, v)
			if err != nil {
				appErr, ok := models.AsError(err)
				if !ok || appErr.Code == "" || (appErr.Kind.HTTPStatus() != 400 && appErr.Kind.HTTPStatus() != 413) {
					t.Fatalf("decode(%q) into %T: %v, want a 400 or 413 application error", body, v, err)
				}
				continue
			}
			if !json.Valid(body) || !utf8.Valid(body) {
				t.Fatalf("decode(%q) into %T accepted a body that is not valid JSON text", body, v)
			}
			sentFFFD := bytes.Contains(body, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`))
			walkStrings(v, func(s string) {
				if !utf8.ValidString(s) || (!sentFFFD && strings.ContainsRune(s, utf8.RuneError)) {
					t.Fatalf("decode(%q) into %T made up text: %q", body, v, s)
				}
			})
		}
	})
}

// walkStrings calls fn with every string a decoded value holds.
func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case *service.NewTenant:
		for _, s := range []string{x.Name, x.Email, x.Plan, x.SubscriptionStatus} {
			fn(s)
		}
	case *service.EmailCode:
		fn(x.Code)
	case *service.ProfileUpdate:
		for _, o := range []service.OptionalField[string]{x.Name, x.Email, x.Phone, x.LogoURL, x.PrimaryColor, x.Domain} {
			if o.Value != nil {
				fn(*o.Value)
			}
		}
	case *map[string]any:
		walkAny(*x, fn)
	}
}

func walkAny(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case []any:
		for _, e := range x {
			walkAny(e, fn)
		}
	case map[string]any:
		for k, e := range x {
			fn(k)
			walkAny(e, fn)
		}
	}
}
