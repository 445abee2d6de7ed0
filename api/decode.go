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
	// encoding/json turns invalid UTF-8 into U+FFFD without a word: a name
	// would be stored other than it was sent.
	if !utf8.Valid(raw) {
		field := invalidUTF8Field(raw)
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

// invalidUTF8Field names the top-level member of a JSON object whose raw
// value (or name) is not valid UTF-8, or "" when there is none to name.
func invalidUTF8Field(raw []byte) string {
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) != nil {
		return ""
	}
	for name, v := range members {
		if !utf8.Valid(v) || !utf8.ValidString(name) {
			return name
		}
	}
	// The name itself was the invalid part (Unmarshal replaced it).
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
