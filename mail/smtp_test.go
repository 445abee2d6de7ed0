package mail_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"go/build"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/q2o/q2o/internal/apptest"
	"github.com/q2o/q2o/mail"
)

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]mail.Config{
		"no host":      {From: "a@example.com"},
		"bad security": {Host: "h", From: "a@example.com", Security: "ssl"},
		"bad port":     {Host: "h", From: "a@example.com", Port: 70000},
		"bad sender":   {Host: "h", From: "not an address"},
	} {
		if _, err := mail.New(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	m, err := mail.New(mail.Config{Host: "smtp.example.com", From: "a@example.com"})
	if err != nil || m.Addr() != "smtp.example.com:587" {
		t.Errorf("defaults: %v %v", m, err)
	}
}

// TestSendRefusesHeaderInjection sends to the real test SMTP server, so a
// header check that went missing would deliver the mail rather than fail
// for some other reason.
func TestSendRefusesHeaderInjection(t *testing.T) {
	t.Parallel()
	m := apptest.TestMailer(t)
	victim := "bcc-" + uuid.NewString()[:8] + "@example.com"
	to := "inj-" + uuid.NewString()[:8] + "@example.com"
	for _, c := range [][2]string{
		{to + "\r\nBcc: " + victim, "s"},
		{to + "\nBcc: " + victim, "s"},
		{"A <" + to + ">", "s"},
		{to, "s\r\nBcc: " + victim},
		{to, "s\nBcc: " + victim},
	} {
		if err := m.Send(context.Background(), c[0], c[1], "body"); !errors.Is(err, mail.ErrHeader) {
			t.Errorf("Send(%q, %q) = %v, want mail.ErrHeader", c[0], c[1], err)
		}
	}
	// The server answers: a good mail goes through, and none of the others did.
	if err := m.Send(context.Background(), to, "fine", "body"); err != nil {
		t.Fatal(err)
	}
	if got := apptest.WaitMails(t, to, 1, 10*time.Second); len(got) != 1 || got[0].Subject != "fine" {
		t.Errorf("mails to %s: %+v", to, got)
	}
	if got := apptest.Mails(t, victim); len(got) != 0 {
		t.Errorf("an injected Bcc got %d mails", len(got))
	}
}

// TestSendThroughMailpit sends through the shared test SMTP server (plain
// text) and reads the message back.
func TestSendThroughMailpit(t *testing.T) {
	t.Parallel()
	to := "mail-" + uuid.NewString()[:8] + "@example.com"
	body := "Grüße: the code is\n\n    123456\n.a line that starts with a dot\n" + strings.Repeat("long ", 40) + "\n"
	if err := apptest.TestMailer(t).Send(context.Background(), to, "Ihr Anmeldecode – q2o", body); err != nil {
		t.Fatal(err)
	}
	got := apptest.WaitMails(t, to, 1, 10*time.Second)[0]
	if got.Subject != "Ihr Anmeldecode – q2o" || strings.ReplaceAll(got.Text, "\r\n", "\n") != body {
		t.Errorf("subject %q\ntext %q\nwant %q", got.Subject, got.Text, body)
	}
	if h := got.Headers["Auto-Submitted"]; len(h) != 1 || h[0] != "auto-generated" {
		t.Errorf("Auto-Submitted %v", h)
	}
}

// TestSendOverTLSWithAuth starts private mailpit servers that insist on
// STARTTLS or on TLS from the first byte, with a certificate of a private
// CA, and authenticates with PLAIN.
func TestSendOverTLSWithAuth(t *testing.T) {
	t.Parallel()
	bin := mailpitBinary(t)
	certFile, keyFile, roots := selfSigned(t)
	for _, sec := range []mail.Security{mail.StartTLS, mail.TLS} {
		t.Run(string(sec), func(t *testing.T) {
			t.Parallel()
			flag := "--smtp-require-starttls"
			if sec == mail.TLS {
				flag = "--smtp-require-tls"
			}
			// A password file: the server accepts q2o/secret and nothing else.
			authFile := filepath.Join(t.TempDir(), "smtp-auth")
			if err := os.WriteFile(authFile, []byte("q2o:secret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			smtpAddr, apiURL := startMailpit(t, bin, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, flag, "--smtp-auth-file", authFile)
			host, port, _ := net.SplitHostPort(smtpAddr)
			p, _ := strconv.Atoi(port)
			cfg := mail.Config{Host: host, Port: p, From: "q2o <no-reply@q2o.test>", Security: sec,
				Username: "q2o", Password: "secret", TLSConfig: &tls.Config{RootCAs: roots}, Timeout: 10 * time.Second}
			m, err := mail.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			to := "tls-" + uuid.NewString()[:8] + "@example.com"
			if err := m.Send(context.Background(), to, "over "+string(sec), "hello\n"); err != nil {
				t.Fatal(err)
			}
			waitMailpit(t, apiURL, to)

			// Wrong credentials, or none, are refused.
			for _, creds := range [][2]string{{"q2o", "wrong"}, {"someone", "secret"}} {
				bad := cfg
				bad.Username, bad.Password = creds[0], creds[1]
				m, _ := mail.New(bad)
				if err := m.Send(context.Background(), to, "s", "b"); err == nil || !strings.Contains(err.Error(), "auth") {
					t.Errorf("credentials %s/%s: %v, want an auth failure", creds[0], creds[1], err)
				}
			}
			anon := cfg
			anon.Username, anon.Password = "", ""
			if m, _ := mail.New(anon); m.Send(context.Background(), to, "s", "b") == nil {
				t.Error("a server that requires AUTH took a mail without it")
			}

			// A certificate the client does not trust is refused.
			cfg.TLSConfig = nil
			untrusting, _ := mail.New(cfg)
			if err := untrusting.Send(context.Background(), to, "s", "b"); err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("untrusted certificate: %v", err)
			}
			if sec == mail.StartTLS {
				// Plain text to a server that insists on STARTTLS fails.
				cfg.Security, cfg.Username, cfg.Password = mail.None, "", ""
				plain, _ := mail.New(cfg)
				if err := plain.Send(context.Background(), to, "s", "b"); err == nil {
					t.Error("plain text accepted by a server that requires STARTTLS")
				}
			}
		})
	}
}

func TestSendStopsOnCancel(t *testing.T) {
	t.Parallel()
	// A server that accepts and never speaks.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	m, _ := mail.New(mail.Config{Host: "127.0.0.1", Port: addr.Port, From: "a@example.com", Security: mail.None})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Send(ctx, "b@example.com", "s", "b") }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Send to a silent server succeeded")
		}
	case <-time.After(10 * time.Second): // a hang guard, not a speed goal
		t.Fatal("Send ignored its context")
	}
}

func mailpitBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOPATH, "bin", "mailpit")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("mailpit not found on PATH nor in %s: `make test` installs it (go install github.com/axllent/mailpit@v1.33.1)", p)
	}
	return p
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startMailpit runs a private mailpit until the test ends and returns its
// SMTP address and API URL.
func startMailpit(t *testing.T, bin string, args ...string) (smtpAddr, apiURL string) {
	t.Helper()
	smtpAddr, httpAddr := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, append([]string{"--smtp", smtpAddr, "--listen", httpAddr, "--disable-version-check",
		"-d", filepath.Join(dir, "mailpit.db")}, args...)...)
	logf, err := os.Create(filepath.Join(dir, "mailpit.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = logf.Close()
	})
	apiURL = "http://" + httpAddr
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", smtpAddr, time.Second)
		if err == nil {
			_ = c.Close()
			if res, err := http.Get(apiURL + "/api/v1/messages"); err == nil {
				_ = res.Body.Close()
				return smtpAddr, apiURL
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "mailpit.log"))
			t.Fatalf("private mailpit did not start: %s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitMailpit(t *testing.T, apiURL, to string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(apiURL + "/api/v1/search?query=" + url.QueryEscape(`to:"`+to+`"`))
		if err != nil {
			t.Fatal(err)
		}
		var list struct {
			Total int `json:"messages_count"`
		}
		err = json.NewDecoder(res.Body).Decode(&list)
		_ = res.Body.Close()
		if err == nil && list.Total > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail for %s at %s", to, apiURL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and localhost and returns
// its files and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "q2o test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}
