package apptest

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// The document describes an event stream's body as the list of its events
// ({id, event, data}, data decoded from JSON), so that CheckOpenAPI checks
// each event's data against the stream's payload schema.
func init() { openapi3filter.RegisterBodyDecoder("text/event-stream", decodeEventStream) }

// decodeEventStream reads a text/event-stream body into its events, in
// order; comments (": ping") and a last event cut off mid-way are left out.
func decodeEventStream(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	events := []any{}
	ev := map[string]any{}
	var data []string
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if data != nil {
				var v any
				if err := json.Unmarshal([]byte(strings.Join(data, "\n")), &v); err != nil {
					v = strings.Join(data, "\n") // not JSON: the schema says whether it may be
				}
				ev["data"] = v
				events = append(events, ev)
			}
			ev, data = map[string]any{}, nil
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "": // a comment
		case "data":
			data = append(data, value)
		case "id", "event":
			ev[field] = value
		}
	}
	return events, sc.Err()
}
