package apptest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/q2o/q2o/mail"
)

// SMTPAddr is the test SMTP server (mailpit), Q2O_TEST_SMTP_ADDR.
func SMTPAddr() string {
	if v := os.Getenv("Q2O_TEST_SMTP_ADDR"); v != "" {
		return v
	}
	return "127.0.0.1:1025"
}

// MailpitURL is the HTTP API of the test SMTP server, Q2O_TEST_MAILPIT_URL.
func MailpitURL() string {
	if v := os.Getenv("Q2O_TEST_MAILPIT_URL"); v != "" {
		return strings.TrimRight(v, "/")
	}
	return "http://127.0.0.1:8025"
}

// TestMailer sends through the test SMTP server, in plain text.
func TestMailer(t testing.TB) *mail.SMTP {
	t.Helper()
	host, port, err := net.SplitHostPort(SMTPAddr())
	if err != nil {
		t.Fatalf("Q2O_TEST_SMTP_ADDR: %v", err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("Q2O_TEST_SMTP_ADDR: %v", err)
	}
	m, err := mail.New(mail.Config{Host: host, Port: p, From: "q2o test <no-reply@q2o.test>",
		Security: mail.None, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Mail is a message as mailpit received it.
type Mail struct {
	ID      string
	From    string
	To      []string
	Subject string
	Text    string
	Headers map[string][]string
}

// Mails returns the messages mailpit holds for the address to, newest first.
func Mails(t testing.TB, to string) []Mail {
	t.Helper()
	var list struct {
		Messages []struct {
			ID string `json:"ID"`
		} `json:"messages"`
	}
	mailpitGet(t, "/api/v1/search?query="+url.QueryEscape(`to:"`+to+`"`), &list)
	out := make([]Mail, 0, len(list.Messages))
	for _, m := range list.Messages {
		var msg struct {
			ID      string `json:"ID"`
			From    struct{ Address string }
			To      []struct{ Address string }
			Subject string
			Text    string
		}
		mailpitGet(t, "/api/v1/message/"+url.PathEscape(m.ID), &msg)
		var headers map[string][]string
		mailpitGet(t, "/api/v1/message/"+url.PathEscape(m.ID)+"/headers", &headers)
		got := Mail{ID: msg.ID, From: msg.From.Address, Subject: msg.Subject, Text: msg.Text, Headers: headers}
		for _, a := range msg.To {
			got.To = append(got.To, a.Address)
		}
		out = append(out, got)
	}
	return out
}

// WaitMails waits until mailpit holds at least n messages for to, and
// returns them, newest first.
func WaitMails(t testing.TB, to string, n int, timeout time.Duration) []Mail {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := Mails(t, to)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d mails for %s after %s, want %d (is mailpit running? `make test` starts it)", len(got), to, timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mailpitGet(t testing.TB, path string, v any) {
	t.Helper()
	res, err := http.Get(MailpitURL() + path)
	if err != nil {
		t.Fatalf("mailpit API %s: %v (is mailpit running? `make test` starts it)", MailpitURL(), err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("mailpit API GET %s: %s", path, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(fmt.Errorf("mailpit API GET %s: %w", path, err))
	}
}
