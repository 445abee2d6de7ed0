package configs

import (
	"strings"
	"testing"
	"time"
)

func TestSMTPSettings(t *testing.T) {
	t.Run("defaults: no SMTP, codes to the log", func(t *testing.T) {
		cfg, err := Load("")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.SMTPHost != "" || cfg.SMTPTLS != "starttls" || cfg.SessionTTL != 12*time.Hour {
			t.Errorf("defaults: host %q tls %q ttl %s", cfg.SMTPHost, cfg.SMTPTLS, cfg.SessionTTL)
		}
	})
	t.Run("a full relay", func(t *testing.T) {
		for k, v := range map[string]string{"Q2O_SMTP_HOST": "smtp.example.com", "Q2O_SMTP_PORT": "465", "Q2O_SMTP_TLS": "tls",
			"Q2O_SMTP_USERNAME": "u", "Q2O_SMTP_PASSWORD": "p", "Q2O_SMTP_FROM": "q2o <no-reply@example.com>", "Q2O_SESSION_TTL": "8h"} {
			t.Setenv(k, v)
		}
		cfg, err := Load("")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.SMTPPort != 465 || cfg.SMTPUsername != "u" || cfg.SessionTTL != 8*time.Hour {
			t.Errorf("loaded %+v", cfg)
		}
	})
	t.Run("a local test server without TLS", func(t *testing.T) {
		for k, v := range map[string]string{"Q2O_SMTP_HOST": "127.0.0.1", "Q2O_SMTP_PORT": "1025", "Q2O_SMTP_TLS": "none",
			"Q2O_SMTP_USERNAME": "u", "Q2O_SMTP_PASSWORD": "p", "Q2O_SMTP_FROM": "no-reply@localhost"} {
			t.Setenv(k, v)
		}
		if _, err := Load(""); err != nil {
			t.Fatal(err)
		}
	})

	bad := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"unknown tls", map[string]string{"Q2O_SMTP_TLS": "ssl"}, "Q2O_SMTP_TLS"},
		{"port out of range", map[string]string{"Q2O_SMTP_PORT": "70000"}, "Q2O_SMTP_PORT"},
		{"port not a number", map[string]string{"Q2O_SMTP_PORT": "smtp"}, "Q2O_SMTP_PORT"},
		{"session ttl zero", map[string]string{"Q2O_SESSION_TTL": "0s"}, "Q2O_SESSION_TTL"},
		{"session ttl a year", map[string]string{"Q2O_SESSION_TTL": "8760h"}, "Q2O_SESSION_TTL"},
		{"host without from", map[string]string{"Q2O_SMTP_HOST": "smtp.example.com"}, "Q2O_SMTP_FROM"},
		{"bad from", map[string]string{"Q2O_SMTP_HOST": "smtp.example.com", "Q2O_SMTP_FROM": "not an address"}, "Q2O_SMTP_FROM"},
		{"host with port", map[string]string{"Q2O_SMTP_HOST": "smtp.example.com:587", "Q2O_SMTP_FROM": "a@example.com"}, "Q2O_SMTP_HOST"},
		{"user without host", map[string]string{"Q2O_SMTP_USERNAME": "u"}, "Q2O_SMTP_HOST"},
		{"password without user", map[string]string{"Q2O_SMTP_HOST": "smtp.example.com", "Q2O_SMTP_FROM": "a@example.com",
			"Q2O_SMTP_PASSWORD": "hunter2"}, "Q2O_SMTP_USERNAME"},
		{"password in clear to a remote server", map[string]string{"Q2O_SMTP_HOST": "smtp.example.com", "Q2O_SMTP_FROM": "a@example.com",
			"Q2O_SMTP_TLS": "none", "Q2O_SMTP_USERNAME": "u", "Q2O_SMTP_PASSWORD": "hunter2"}, "Q2O_SMTP_TLS"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			_, err := Load("")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %s", err, c.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %v shows the password", err)
			}
		})
	}
}

func TestSMTPSettingsListed(t *testing.T) {
	listed := map[string]bool{}
	for _, s := range Settings() {
		listed[s.Env] = true
	}
	for _, name := range []string{"Q2O_SMTP_HOST", "Q2O_SMTP_PORT", "Q2O_SMTP_USERNAME", "Q2O_SMTP_PASSWORD",
		"Q2O_SMTP_FROM", "Q2O_SMTP_TLS", "Q2O_SESSION_TTL"} {
		if !listed[name] {
			t.Errorf("%s missing from Settings()", name)
		}
	}
}
