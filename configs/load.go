package configs

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// binding ties a setting to its field of Config.
type binding struct {
	// field points at the field: the YAML file decodes into it.
	field func(*Config) any
	// parse sets the field from the environment's text (and a default).
	parse func(c *Config, raw string) error
	// check applies the setting's rules; a rule may also normalise the
	// value (a relative path made absolute).
	check func(c *Config) []error
}

// bind makes the binding of the field that field points at: parse reads
// the environment's text, and each check is a rule the value must pass.
func bind[T any](field func(*Config) *T, parse func(string) (T, error), checks ...func(v *T, c *Config) error) binding {
	return binding{
		field: func(c *Config) any { return field(c) },
		parse: func(c *Config, raw string) error {
			v, err := parse(raw)
			if err == nil {
				*field(c) = v
			}
			return err
		},
		check: func(c *Config) []error {
			var errs []error
			for _, check := range checks {
				if err := check(field(c), c); err != nil {
					if joined, ok := err.(interface{ Unwrap() []error }); ok {
						errs = append(errs, joined.Unwrap()...)
					} else {
						errs = append(errs, err)
					}
				}
			}
			return errs
		},
	}
}

// The parsers of the environment's text, one per kind of field.

func text(s string) (string, error) { return s, nil }

func number(s string) (int, error) {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("want a whole number, got %q", s)
	}
	return int(n), nil
}

func number64(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want a whole number, got %q", s)
	}
	return n, nil
}

func boolean(s string) (bool, error) {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("want true or false, got %q", s)
	}
	return b, nil
}

func duration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 30s or 2h, got %q", s)
	}
	return d, nil
}

func size(s string) (ByteSize, error) {
	var b ByteSize
	err := b.UnmarshalText([]byte(s))
	return b, err
}

// list splits the text at sep.
func list(sep string) func(string) ([]string, error) {
	return func(s string) ([]string, error) { return strings.Split(s, sep), nil }
}

// pairs reads comma-separated key=value pairs, each value read by value.
func pairs[V any](value func(string) (V, error)) func(string) (map[string]V, error) {
	return func(s string) (map[string]V, error) {
		out := map[string]V{}
		for _, part := range strings.Split(s, ",") {
			k, raw, ok := strings.Cut(part, "=")
			if !ok {
				return nil, fmt.Errorf("want key=value pairs, got %q", part)
			}
			v, err := value(raw)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = v
		}
		return out, nil
	}
}

// loadEnv sets every setting whose variable lookup finds (an empty one
// counts as unset), and names the variable of each value that does not
// parse.
func (c *Config) loadEnv(lookup func(string) (string, bool)) error {
	var errs []error
	for _, s := range settings {
		raw, ok := lookup(s.Env)
		if !ok || raw == "" {
			continue
		}
		if err := s.bind.parse(c, raw); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Env, err))
		}
	}
	return errors.Join(errs...)
}

// loadFile sets the settings the YAML file at path names: a mapping of
// their keys, each decoded into its field. A key that is no setting is an
// error, as is one given twice.
func (c *Config) loadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // empty, or only comments
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return fmt.Errorf("config file %s: line %d: want a mapping of settings (key: value)", path, top.Line)
	}
	byKey := map[string]*Setting{}
	for i := range settings {
		byKey[settings[i].Key()] = &settings[i]
	}
	seen := map[string]bool{}
	var errs []error
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		s, ok := byKey[k.Value]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("config file %s: line %d: %q is not a setting", path, k.Line, k.Value))
		case seen[k.Value]:
			errs = append(errs, fmt.Errorf("config file %s: line %d: %s is given twice", path, k.Line, k.Value))
		default:
			if err := v.Decode(s.bind.field(c)); err != nil {
				errs = append(errs, fmt.Errorf("config file %s: line %d: %s: %w", path, k.Line, k.Value, err))
			}
		}
		seen[k.Value] = true
	}
	return errors.Join(errs...)
}

// Validate checks every setting and, for Q2O_RUNNER and Q2O_OUTPUT_ROOT, turns
// relative paths into absolute ones (main.py runs in its output folder, so a
// relative path would otherwise point somewhere else). Each error names the
// setting's variable.
func (c *Config) Validate() error {
	var errs []error
	for _, s := range settings {
		for _, err := range s.bind.check(c) {
			errs = append(errs, fmt.Errorf("%s: %w", s.Env, err))
		}
	}
	return errors.Join(errs...)
}
