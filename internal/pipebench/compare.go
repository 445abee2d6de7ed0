package pipebench

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
)

// WriteComparison prints every figure of before (an earlier --json output)
// beside now's, with now ÷ before: the table a change's author pastes to
// show what it gained.
func WriteComparison(w io.Writer, before []byte, now Result) error {
	var old map[string]any
	if err := json.Unmarshal(before, &old); err != nil {
		return fmt.Errorf("the earlier result: %w", err)
	}
	b, err := json.Marshal(now)
	if err != nil {
		return err
	}
	var cur map[string]any
	if err := json.Unmarshal(b, &cur); err != nil {
		return err
	}
	was, is := map[string]float64{}, map[string]float64{}
	flatten("", old, was)
	flatten("", cur, is)
	keys := make([]string, 0, len(is))
	for k := range is {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "\nagainst the earlier result (%v, load %v):\n\n", old["date"], old["load"])
	rows := [][]string{{"figure", "before", "now", "now/before"}}
	for _, k := range keys {
		v, ok := was[k]
		if !ok {
			rows = append(rows, []string{k, "-", fmt.Sprintf("%.4g", is[k]), ""})
			continue
		}
		change := "-"
		if v != 0 {
			change = fmt.Sprintf("%.2f×", is[k]/v)
		}
		rows = append(rows, []string{k, fmt.Sprintf("%.4g", v), fmt.Sprintf("%.4g", is[k]), change})
	}
	return writeAligned(w, rows)
}

// flatten collects the numbers of a decoded JSON object by their dotted path.
func flatten(prefix string, v any, out map[string]float64) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, x, out)
		}
	case float64:
		if prefix != "runs" && prefix != "concurrency" {
			out[prefix] = v
		}
	}
}
