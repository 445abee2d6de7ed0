package web_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/q2o/q2o/internal/apptest"
)

// The browser tests drive one headless Chromium (Debian's chromium package;
// scripts/services.sh installs it) for the whole package; each test opens
// its own browser contexts, which share nothing (cookies, storage).

var browser context.Context // the shared browser; nil when it could not start

// chromium is the browser binary: Q2O_CHROMIUM, else chromium on PATH.
func chromium() string {
	if p := os.Getenv("Q2O_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

var browserErr error

func TestMain(m *testing.M) {
	code := func() int {
		bin := chromium()
		if bin == "" {
			browserErr = errors.New("chromium not found (set Q2O_CHROMIUM, or run `make test`, whose scripts/services.sh installs Debian's chromium)")
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "q2o-chromium-")
		if err != nil {
			browserErr = err
			return m.Run()
		}
		defer os.RemoveAll(dir)
		opts := []chromedp.ExecAllocatorOption{
			chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
			chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(dir),
			chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1440, 900),
		}
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		defer cancelAlloc()
		b, cancelBrowser := chromedp.NewContext(alloc)
		defer cancelBrowser()
		if err := chromedp.Do(b); err != nil {
			browserErr = fmt.Errorf("start %s: %w", bin, err)
			return m.Run()
		}
		browser = b
		return m.Run()
	}()
	os.Exit(code)
}

// tab opens a page in a new browser context (its own cookies) with the
// viewport w×h, for the length of the test. A JavaScript dialog other than
// a confirm fails the test: it is how injected markup would show itself.
func tab(t *testing.T, w, h int64, mobile bool) context.Context {
	t.Helper()
	if browser == nil {
		t.Fatalf("no browser: %v", browserErr)
	}
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	var opts []chromedp.EmulateViewportOption
	if mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h, opts...)); err != nil {
		t.Fatal(err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for d, err := range dialogs {
			if err != nil {
				return
			}
			if d.Type != page.DialogTypeConfirm {
				t.Errorf("the page opened a %s dialog: %q", d.Type, d.Message)
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return ctx
}

// run runs browser actions with a deadline, failing the test on error.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		shot(t, ctx, "failed-"+slug(what))
		t.Fatalf("%s: %v", what, err)
	}
}

var screenshotDir = func() string {
	if d := os.Getenv("Q2O_SCREENSHOT_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "q2o-screenshots")
}()

// shot saves a full-page screenshot as <Q2O_SCREENSHOT_DIR>/<name>.png.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	buf, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(screenshotDir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func slug(s string) string {
	return strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// text reads the text of the first element matching sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		shot(t, ctx, "failed-read-"+slug(sel))
		t.Fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// eval evaluates a JavaScript expression; its value is decoded into a T.
func eval[T any](t *testing.T, ctx context.Context, js string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js, opts...))
	if err != nil {
		shot(t, ctx, "failed-eval")
		t.Fatalf("eval %s: %v", js, err)
	}
	return v
}

// js runs a statement in the page, as a step of run.
func js(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](expr+"; null")(ctx, tg)
		if errors.Is(err, chromedp.ErrJSNull) {
			return nil
		}
		return err
	})
}

// location is the page's path and query.
func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	return eval[string](t, ctx, "location.pathname + location.search")
}

// waitJS polls a JavaScript condition until it is true.
func waitJS(t *testing.T, ctx context.Context, what, js string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			shot(t, ctx, "timeout-"+slug(what))
			t.Fatalf("%s: not within %s (%s; last error %v)", what, timeout, js, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fetchZip downloads url in the page (with its cookies) and opens it.
func fetchZip(t *testing.T, ctx context.Context, url string) *zip.Reader {
	t.Helper()
	b64 := eval[string](t, ctx, fmt.Sprintf(`(async () => {
		const r = await fetch(%q, {credentials: "same-origin"});
		if (r.status !== 200) return "status " + r.status + ": " + await r.text();
		const b = new Uint8Array(await r.arrayBuffer());
		let s = ""; for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
		return "ok:" + btoa(s);
	})()`, url), chromedp.EvalAwaitPromise)
	data, ok := strings.CutPrefix(b64, "ok:")
	if !ok {
		t.Fatalf("download %s: %s", url, b64)
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("download %s: not a zip (%d bytes): %v", url, len(raw), err)
	}
	return zr
}

// checkZip checks a project's zip: main.py's files, and no run.log.
func checkZip(t *testing.T, zr *zip.Reader) {
	t.Helper()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if filepath.Base(f.Name) == "run.log" {
			t.Errorf("the zip holds %s", f.Name)
		}
	}
	if len(names) == 0 {
		t.Fatal("the zip is empty")
	}
	found := false
	for _, n := range names {
		if strings.HasSuffix(n, "README.md") {
			found = true
		}
	}
	if !found {
		t.Errorf("the zip lacks the sample's README.md: %v", names)
	}
}

// samplePy is the sample main.py, run for about three seconds so the
// status page has progress to show.
func sampleRunner() string {
	_, file, _, _ := runtime.Caller(0)
	return "python3 " + filepath.Join(filepath.Dir(file), "..", "examples", "main.py") + " --seconds 3"
}

// signIn signs a tenant in through the form, with the code from mailpit.
func signIn(t *testing.T, ctx context.Context, base, email string) {
	t.Helper()
	before := len(apptest.Mails(t, email))
	run(t, ctx, "open sign-in", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), email), chromedp.Submit(chromedp.ID("email")),
		chromedp.WaitVisible(chromedp.ID("code")))
	mails := apptest.WaitMails(t, email, before+1, 20*time.Second)
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(mails[0].Text)
	if code == "" {
		t.Fatalf("no code in the mail: %q", mails[0].Text)
	}
	run(t, ctx, "enter the code", chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")),
		chromedp.WaitVisible(chromedp.CSS("nav.nav")))
	if got := location(t, ctx); got != "/projects" {
		t.Fatalf("after sign-in the browser is at %s, want /projects (%s)", got, text(t, ctx, "main"))
	}
}

// newTenant makes a tenant through the admin API and returns its id and email.
func newTenant(t *testing.T, a *apptest.App, status string) (id, email, key string) {
	t.Helper()
	email = fmt.Sprintf("portal-%d@example.com", time.Now().UnixNano())
	m := a.Must(http.StatusCreated, a.Do("POST", "/api/admin/tenants", apptest.AdminToken, map[string]any{
		"name": "Acme Robotics", "email": email, "plan": "starter", "subscription_status": status,
	}))
	return m["id"].(string), email, m["api_key"].(string)
}
