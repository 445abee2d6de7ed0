package configs

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/shlex"

	"github.com/q2o/q2o/worker/runner"
)

// The rules the table's settings pass. Each returns an error that says
// what is wanted, without the setting's name: Validate puts that in front.

// oneOf: the value is one of choices.
func oneOf(choices ...string) func(*string, *Config) error {
	want := strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
	return func(v *string, _ *Config) error {
		if !slices.Contains(choices, *v) {
			return fmt.Errorf("must be %s, got %q", want, *v)
		}
		return nil
	}
}

func positive(d *time.Duration, _ *Config) error {
	if *d <= 0 {
		return fmt.Errorf("must be a positive duration such as 30s or 2h, got %s", *d)
	}
	return nil
}

func nonNegative[T int | int64 | time.Duration](v *T, _ *Config) error {
	if *v < 0 {
		return fmt.Errorf("must not be negative, got %v", *v)
	}
	return nil
}

// listenAddr: host:port or :port.
func listenAddr(v *string, _ *Config) error {
	if _, _, err := net.SplitHostPort(*v); err != nil {
		return fmt.Errorf("want host:port or :port, got %q", *v)
	}
	return nil
}

// unsetOr: the rule holds for the value unless it is empty.
func unsetOr(rule func(*string, *Config) error) func(*string, *Config) error {
	return func(v *string, c *Config) error {
		if *v == "" {
			return nil
		}
		return rule(v, c)
	}
}

func httpURL(v *string, _ *Config) error {
	if u, err := url.Parse(*v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an http(s):// URL, got %q", *v)
	}
	return nil
}

func postgresURL(v *string, _ *Config) error {
	if u, err := url.Parse(*v); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return fmt.Errorf("want a postgres://user@host:port/dbname URL, got %q", redact(*v))
	}
	return nil
}

func redisURL(v *string, _ *Config) error {
	_, err := RedisDB(*v)
	return err
}

// hostPort: host:port with both parts.
func hostPort(s string) error {
	if h, p, err := net.SplitHostPort(strings.TrimSpace(s)); err != nil || h == "" || p == "" {
		return fmt.Errorf("want host:port items such as 10.0.0.5:26379, got %q", s)
	}
	return nil
}

func redisMasterName(v *string, c *Config) error {
	switch {
	case len(c.RedisSentinels) > 0 && strings.TrimSpace(*v) == "":
		return errors.New("is required when Q2O_REDIS_SENTINELS is set: the name in the Sentinels' `sentinel monitor <name>`")
	case len(c.RedisSentinels) == 0 && *v != "":
		return errors.New("is set but Q2O_REDIS_SENTINELS is not: list the Sentinels, or unset it to use Q2O_REDIS_URL's host")
	}
	return nil
}

func adminToken(v *string, _ *Config) error {
	if *v != "" && len(*v) < 12 {
		return errors.New("must be at least 12 characters when set")
	}
	return nil
}

// folder: not empty; made absolute.
func folder(v *string, _ *Config) error {
	if strings.TrimSpace(*v) == "" {
		return errors.New("must not be empty")
	}
	if abs, err := filepath.Abs(*v); err == nil {
		*v = abs
	}
	return nil
}

// command: splits into words like a shell would; the relative paths among
// them that name a file are made absolute.
func command(v *string, _ *Config) error {
	words, err := shlex.Split(*v)
	if err != nil || len(words) == 0 {
		return fmt.Errorf("want a command such as %q, got %q", "python3 /srv/main.py", *v)
	}
	*v = absolutize(words)
	return nil
}

func words(v *string, _ *Config) error {
	if _, err := shlex.Split(*v); err != nil {
		return fmt.Errorf("cannot split into words: %v", err)
	}
	return nil
}

func progressPatterns(v *[]string, _ *Config) error {
	_, err := runner.CompileProgressPatterns(*v)
	return err
}

func runnerUser(v *string, c *Config) error {
	if c.Sandbox == "on" && strings.TrimSpace(*v) == "" {
		return errors.New("must name a user when Q2O_SANDBOX=on")
	}
	return nil
}

// each: the rule holds for every item of the list; one error per item
// that breaks it.
func each(rule func(string) error) func(*[]string, *Config) error {
	return func(v *[]string, _ *Config) error {
		var errs []error
		for _, item := range *v {
			errs = append(errs, rule(item))
		}
		return errors.Join(errs...)
	}
}

func absolutePath(p string) error {
	if !filepath.IsAbs(p) {
		return fmt.Errorf("want absolute paths, got %q", p)
	}
	return nil
}

func cidr(s string) error {
	if _, _, err := net.ParseCIDR(strings.TrimSpace(s)); err != nil {
		return fmt.Errorf("want CIDRs such as 10.0.0.0/8, got %q", s)
	}
	return nil
}

func concurrency(v *int, _ *Config) error {
	if *v < 1 || *v > 1000 {
		return fmt.Errorf("must be between 1 and 1000, got %d", *v)
	}
	return nil
}

// queueWeights: unset, or a weight of at least 1 for each of the three
// queues.
func queueWeights(v *map[string]int, _ *Config) error {
	if len(*v) == 0 {
		return nil
	}
	var errs []error
	for _, q := range slices.Sorted(maps.Keys(*v)) {
		if w := (*v)[q]; w < 1 {
			errs = append(errs, fmt.Errorf("queue %q needs a weight of at least 1, got %d", q, w))
		}
	}
	for _, q := range []string{"control", "runs", "artifacts"} {
		if _, ok := (*v)[q]; !ok {
			errs = append(errs, fmt.Errorf("queue %q is missing (want control, runs and artifacts)", q))
		}
	}
	return errors.Join(errs...)
}

// The OTP sign-in settings: the SMTP server that mails the codes and the
// session lifetime.

func smtpPort(v *int, _ *Config) error {
	if *v < 0 || *v > 65535 {
		return fmt.Errorf("must be a port number (1-65535, or 0 for the usual one), got %d", *v)
	}
	return nil
}

func sessionTTL(v *time.Duration, _ *Config) error {
	if *v < time.Minute || *v > 30*24*time.Hour {
		return fmt.Errorf("must be between 1m and 720h, got %s", *v)
	}
	return nil
}

func smtpHost(v *string, c *Config) error {
	host := strings.TrimSpace(*v)
	if host == "" {
		if c.SMTPUsername != "" || c.SMTPPassword != "" {
			return errors.New("is required when Q2O_SMTP_USERNAME or Q2O_SMTP_PASSWORD is set")
		}
		return nil
	}
	if host != *v || strings.ContainsAny(host, " /@") || (strings.Contains(host, ":") && net.ParseIP(host) == nil) {
		return fmt.Errorf("want a host name or IP address without a port (the port is Q2O_SMTP_PORT), got %q", *v)
	}
	return nil
}

func smtpFrom(v *string, c *Config) error {
	switch {
	case strings.TrimSpace(c.SMTPHost) == "":
		return nil
	case *v == "":
		return errors.New("is required when Q2O_SMTP_HOST is set, e.g. \"q2o <no-reply@example.com>\"")
	}
	if _, err := mail.ParseAddress(*v); err != nil || strings.ContainsAny(*v, "\r\n") {
		return fmt.Errorf("want an address such as \"q2o <no-reply@example.com>\", got %q", *v)
	}
	return nil
}

func smtpUsername(v *string, c *Config) error {
	if strings.TrimSpace(c.SMTPHost) != "" && c.SMTPPassword != "" && *v == "" {
		return errors.New("is required when Q2O_SMTP_PASSWORD is set")
	}
	return nil
}

// smtpClearText: no password in clear text to another machine.
func smtpClearText(v *string, c *Config) error {
	host := strings.TrimSpace(c.SMTPHost)
	if host != "" && c.SMTPUsername != "" && *v == "none" && !isLoopback(host) {
		return fmt.Errorf("is none, which would send the SMTP password in clear text to %s; use starttls or tls", host)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// absolutize makes relative paths among the command's words absolute when
// they name an existing file, and joins the words back, quoted.
func absolutize(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		if strings.Contains(w, "/") && !filepath.IsAbs(w) {
			if _, err := os.Stat(w); err == nil {
				if abs, err := filepath.Abs(w); err == nil {
					w = abs
				}
			}
		}
		out[i] = shellQuote(w)
	}
	return strings.Join(out, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == ':' || r == '=' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// redact hides a URL's password so it never reaches a log or an error.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
