// Package mail sends q2o's emails (sign-in codes) through an SMTP server. It
// uses the standard library's net/smtp, which covers what a relay needs:
// STARTTLS, TLS from the first byte (port 465), and PLAIN authentication,
// which net/smtp refuses to do over an unencrypted link except to localhost.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"
)

// Security is how the link to the SMTP server is protected.
type Security string

// The kinds of Security.
const (
	None     Security = "none"     // plain text (a local relay, a test server)
	StartTLS Security = "starttls" // upgraded with STARTTLS; the server must offer it
	TLS      Security = "tls"      // TLS from the first byte ("SMTPS")
)

// DefaultPort is the usual port for each kind of Security.
func DefaultPort(sec Security) int {
	switch sec {
	case None:
		return 25
	case TLS:
		return 465
	}
	return 587
}

// Config is how to reach the SMTP server.
type Config struct {
	Host string
	// Port is the server's port; 0 means DefaultPort(Security).
	Port int
	// Username, when set, authenticates with PLAIN (never in clear text to
	// anything but localhost).
	Username string
	Password string
	// From is the sender, such as "q2o <no-reply@example.com>".
	From     string
	Security Security
	// TLSConfig, when set, is used for STARTTLS and TLS (a private CA, for
	// example); ServerName defaults to Host.
	TLSConfig *tls.Config
	// Timeout bounds one Send when its context has no earlier deadline
	// (default 30 s).
	Timeout time.Duration
}

// SMTP sends mail through one SMTP server. Each Send opens its own
// connection, so an SMTP is safe for concurrent use.
type SMTP struct {
	cfg  Config
	from *netmail.Address
}

// New checks cfg and returns its sender.
func New(cfg Config) (*SMTP, error) {
	if strings.TrimSpace(cfg.Host) == "" {
		return nil, errors.New("mail: no SMTP host")
	}
	switch cfg.Security {
	case None, StartTLS, TLS:
	case "":
		cfg.Security = StartTLS
	default:
		return nil, fmt.Errorf("mail: unknown security %q (want none, starttls or tls)", cfg.Security)
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort(cfg.Security)
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("mail: bad port %d", cfg.Port)
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail: sender %q: %w", cfg.From, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &SMTP{cfg: cfg, from: from}, nil
}

// Addr is the server's host:port.
func (m *SMTP) Addr() string { return net.JoinHostPort(m.cfg.Host, strconv.Itoa(m.cfg.Port)) }

// ErrHeader is what Send answers, before it connects, for a recipient or
// subject that would add or break a header (a line break, a display name).
var ErrHeader = errors.New("mail: refused header")

// Send mails a plain-text message (UTF-8, quoted-printable) to one address.
// Cancelling ctx interrupts the conversation.
func (m *SMTP) Send(ctx context.Context, to, subject, body string) error {
	rcpt, err := netmail.ParseAddress(to)
	if err != nil || rcpt.Address != to {
		return fmt.Errorf("%w: the recipient must be a plain address, got %q", ErrHeader, to)
	}
	if strings.ContainsAny(subject, "\r\n") {
		return fmt.Errorf("%w: the subject holds a line break", ErrHeader)
	}
	msg, err := m.message(rcpt, subject, body, time.Now())
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.cfg.Timeout)
		defer cancel()
	}
	if err := m.send(ctx, rcpt.Address, msg); err != nil {
		return fmt.Errorf("mail: smtp %s: %w", m.Addr(), err)
	}
	return nil
}

func (m *SMTP) send(ctx context.Context, rcpt string, msg []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.Addr())
	if err != nil {
		return err
	}
	defer conn.Close()
	// net/smtp knows no context: the deadline bounds every read and write,
	// and a cancel cuts the link.
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	tlsCfg := m.tlsConfig()
	if m.cfg.Security == TLS {
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, m.cfg.Host)
	if err != nil {
		return err
	}
	defer c.Close()
	if m.cfg.Security == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("the server does not offer STARTTLS (set Q2O_SMTP_TLS to tls or none)")
		}
		if err := c.StartTLS(tlsCfg); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if m.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the server does not offer AUTH, but a username is set")
		}
		if err := c.Auth(smtp.PlainAuth("", m.cfg.Username, m.cfg.Password, m.cfg.Host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	if err := c.Rcpt(rcpt); err != nil {
		return fmt.Errorf("rcpt to: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return c.Quit()
}

func (m *SMTP) tlsConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if m.cfg.TLSConfig != nil {
		cfg = m.cfg.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = m.cfg.Host
	}
	return cfg
}

// message builds the RFC 5322 message: headers, then the body in
// quoted-printable (7-bit clean, whatever the text). net/smtp's data writer
// turns line ends into CRLF and dot-stuffs.
func (m *SMTP) message(rcpt *netmail.Address, subject, body string, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	domain := m.from.Address[strings.LastIndexByte(m.from.Address, '@')+1:]
	headers := [][2]string{
		{"From", m.from.String()},
		{"To", (&netmail.Address{Address: rcpt.Address}).String()},
		{"Subject", mime.QEncoding.Encode("utf-8", subject)},
		{"Date", now.Format(time.RFC1123Z)},
		{"Message-ID", "<" + hex.EncodeToString(id) + "@" + domain + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
		{"Auto-Submitted", "auto-generated"},
	}
	for _, h := range headers {
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
