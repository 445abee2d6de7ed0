package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
)

// maxBody bounds every request body (the webhook has a tighter bound).
const maxBody = 1 << 20

// limitBody refuses a body over limit bytes with 413 body_too_large, one
// with a Content-Length at once and a chunked one as it is read (decode,
// and whoever else reads the body, sees an *http.MaxBytesError).
func limitBody(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > limit {
				return errBodyTooLarge(limit)
			}
			if req.Body != nil && req.Body != http.NoBody {
				req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
			}
			return next(c)
		}
	}
}

func errBodyTooLarge(limit int64) error {
	return models.Errorf(models.KindTooLarge, "body_too_large", "the request body is larger than %d bytes", limit)
}

// decode reads the JSON body into v: one JSON object, no unknown fields,
// nothing after it. Every failure is a 400 with a stable code.
func decode(c echo.Context, v any) error {
	body := c.Request().Body
	if body == nil || body == http.NoBody {
		return models.Errorf(models.KindInvalid, "invalid_json", "the request body must be a JSON object")
	}
	raw, err := io.ReadAll(body)
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return errBodyTooLarge(maxErr.Limit)
	case err != nil:
		return models.Errorf(models.KindInvalid, "invalid_json", "the request body could not be read")
	}
	// encoding/json turns invalid UTF-8, and a \u escape of half a
	// surrogate pair, into U+FFFD without a word: a name would be stored
	// other than it was sent.
	if badText(raw) {
		field := badTextField(raw)
		return models.FieldError(field, "invalid_field", "%s must be valid UTF-8 text", cmp.Or(field, "the request body"))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return models.Errorf(models.KindInvalid, "invalid_json", "the request body must hold one JSON object and nothing after it")
		}
		return nil
	}
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return models.Errorf(models.KindInvalid, "invalid_json", "the request body must be a JSON object")
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return models.Errorf(models.KindInvalid, "invalid_json", "the request body is not valid JSON")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return models.Errorf(models.KindInvalid, "invalid_json", "the request body must be a JSON object")
		}
		return models.FieldError(typeErr.Field, "invalid_type", "%s must be a JSON %s", typeErr.Field, jsonType(typeErr.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return models.FieldError(field, "unknown_field", "unknown field %q", field)
	case strings.Contains(err.Error(), "parsing time"):
		return models.Errorf(models.KindInvalid, "invalid_time", "times must be RFC 3339, such as 2026-12-31T23:59:59Z")
	}
	return models.Errorf(models.KindInvalid, "invalid_json", "the request body could not be read: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// badText reports whether JSON text holds invalid UTF-8 or a \u escape of
// a lone surrogate (half of a UTF-16 pair), which no text can hold.
func badText(b []byte) bool {
	if !utf8.Valid(b) {
		return true
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+1 >= len(b) || b[i+1] != 'u' {
			i++ // an escape of one character, such as \\ or \"
			continue
		}
		r, ok := hex4(b, i+2)
		switch {
		case !ok:
			i++ // not JSON: the decoder says so
		case r >= 0xD800 && r <= 0xDBFF: // a high surrogate: a low one must follow
			lo, ok := hex4(b, i+8)
			if i+7 >= len(b) || b[i+6] != '\\' || b[i+7] != 'u' || !ok || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 11
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		default:
			i += 5
		}
	}
	return false
}

// hex4 reads the 4 hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// badTextField names the top-level member of a JSON object whose raw value
// (or name) is bad text (see badText), or "" when there is none to name.
func badTextField(raw []byte) string {
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) != nil {
		return ""
	}
	for name, v := range members {
		if badText(v) {
			return name
		}
	}
	// The name itself was the bad part (Unmarshal replaced it).
	for name := range members {
		if strings.ContainsRune(name, utf8.RuneError) {
			return name
		}
	}
	return ""
}

func jsonType(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "int", "int64", "int32", "float64", "uint":
		return "number"
	case "bool":
		return "boolean"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	}
	return fmt.Sprintf("value of the right type (%s)", goKind)
}

// pathID reads a UUID path parameter. A malformed id cannot name anything,
// so it answers notFound.
func pathID(c echo.Context, name string, notFound *models.Error) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param(name))
	if err != nil || id.String() != strings.ToLower(c.Param(name)) {
		return uuid.Nil, notFound
	}
	return id, nil
}

// The path parameters that requests bind (see binder), each answering the
// 404 of what a malformed id would have named.

// tenantPath binds :tenant_id; a malformed id is an unknown tenant.
type tenantPath struct{ TenantID uuid.UUID }

func (r *tenantPath) bind(c echo.Context) (err error) {
	r.TenantID, err = pathID(c, "tenant_id", models.ErrTenantNotFound)
	return err
}

// codePath binds :code_id; a malformed id is an unknown code.
type codePath struct{ CodeID uuid.UUID }

func (r *codePath) bind(c echo.Context) (err error) {
	r.CodeID, err = pathID(c, "code_id", models.ErrCodeNotFound)
	return err
}

// projectPath binds :project_id; a malformed id is an unknown project.
type projectPath struct{ ProjectID uuid.UUID }

func (r *projectPath) bind(c echo.Context) (err error) {
	r.ProjectID, err = pathID(c, "project_id", models.ErrProjectNotFound)
	return err
}

// executionPath binds :project_id and :execution_id; either malformed is an
// unknown execution.
type executionPath struct{ ProjectID, ExecutionID uuid.UUID }

func (r *executionPath) bind(c echo.Context) (err error) {
	if r.ProjectID, err = pathID(c, "project_id", models.ErrExecutionNotFound); err != nil {
		return err
	}
	r.ExecutionID, err = pathID(c, "execution_id", models.ErrExecutionNotFound)
	return err
}
