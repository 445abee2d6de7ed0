package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/q2o/q2o/internal/apptest"
)

const (
	desktopW, desktopH = 1440, 900
	phoneW, phoneH     = 390, 844
)

// TestPortalJourney walks what a tenant and its client do, in a real
// browser against a real q2o (Postgres, Redis, mailpit, a worker running
// the sample main.py): sign in with the emailed code, create a project (a
// refusal first), generate codes, assign one from the picker, RUN, watch the
// bar reach 100 without a reload, read the log, download the zip; the client
// opens its link on a phone, watches the same run live and downloads.
func TestPortalJourney(t *testing.T) {
	a := apptest.New(t, apptest.Options{})
	cfg := a.WorkerConfig()
	cfg.Runner = sampleRunner()
	a.StartWorker(cfg)
	_, email, key := newTenant(t, a, "active")

	// Signed out, a tenant page sends the browser to sign in.
	ctx := tab(t, desktopW, desktopH, false)
	run(t, ctx, "open /projects signed out", chromedp.Navigate(a.URL+"/projects"), chromedp.WaitVisible(chromedp.ID("email")))
	if got := location(t, ctx); got != "/" {
		t.Fatalf("signed out, /projects went to %s", got)
	}
	shot(t, ctx, "signin-desktop")

	signIn(t, ctx, a.URL, email)
	if got := text(t, ctx, ".empty h2"); !strings.Contains(got, "No projects yet") {
		t.Errorf("empty projects list says %q", got)
	}
	shot(t, ctx, "projects-empty-desktop")

	// A refusal is shown next to its field, with the API's message.
	run(t, ctx, "new project, blank description",
		chromedp.Navigate(a.URL+"/projects/new"), chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), "Todo app"),
		chromedp.SendKeys(chromedp.ID("description"), "   "),
		chromedp.SendKeys(chromedp.ID("objectives"), "CRUD, tests and docs"),
		chromedp.Submit(chromedp.ID("name")), chromedp.WaitVisible(chromedp.ID("description-error")))
	if got := text(t, ctx, "#description-error"); !strings.Contains(got, "Description must not be blank") {
		t.Errorf("description error: %q", got)
	}
	kept := eval[string](t, ctx, `document.getElementById("objectives").value`)
	if kept != "CRUD, tests and docs" {
		t.Errorf("the refused form lost the objectives: %q", kept)
	}
	shot(t, ctx, "project-new-refused-desktop")
	run(t, ctx, "create the project",
		chromedp.SetValue(chromedp.ID("description"), "A small todo app for the team"),
		chromedp.Submit(chromedp.ID("name")), chromedp.WaitVisible(chromedp.ID("run-h")))
	projectPath := location(t, ctx)
	projectID := strings.TrimPrefix(projectPath, "/projects/")

	// Without a code RUN is disabled, with the service's reason.
	if got := text(t, ctx, "#run-why"); !strings.Contains(got, "Assign an activation code") {
		t.Errorf("RUN's reason without a code: %q", got)
	}

	// Codes: generate two; the plaintext is shown once.
	run(t, ctx, "generate codes", chromedp.Navigate(a.URL+"/codes"), chromedp.WaitVisible(chromedp.ID("count")),
		chromedp.SetValue(chromedp.ID("count"), "2"), chromedp.Submit(chromedp.ID("count")),
		chromedp.WaitVisible(chromedp.ID("code-0")))
	codes := eval[[]string](t, ctx, `[...document.querySelectorAll(".new-codes input[id^=code-]")].map(i => i.value)`)
	if len(codes) != 2 {
		t.Fatalf("new codes shown: %v", codes)
	}
	link := eval[string](t, ctx, `document.getElementById("link-0").value`)
	if !strings.HasSuffix(link, "/status/"+codes[0]) {
		t.Errorf("client link %q does not open code %s", link, codes[0])
	}
	shot(t, ctx, "codes-generated-desktop")

	// Assign from the picker: the option ending in code 0's hint.
	hint := codes[0][len(codes[0])-4:]
	run(t, ctx, "open the project", chromedp.Navigate(a.URL+projectPath), chromedp.WaitVisible(chromedp.ID("code_id")))
	optionValue := eval[string](t, ctx, fmt.Sprintf(`[...document.querySelectorAll("#code_id option")].find(o => o.textContent.includes(%q)).value`, hint))
	run(t, ctx, "assign from the picker", chromedp.SetValue(chromedp.ID("code_id"), optionValue),
		chromedp.Submit(chromedp.ID("code_id")), chromedp.WaitVisible(chromedp.CSS(`form[action$="/run"] button`)))
	if got := text(t, ctx, ".flash"); !strings.Contains(got, "assigned") {
		t.Errorf("after assigning: %q", got)
	}
	shot(t, ctx, "project-ready-desktop")

	// The client opens its link on a phone before the run: the code leaves
	// the address bar at once.
	client := tab(t, phoneW, phoneH, true)
	run(t, client, "client's code form", chromedp.Navigate(a.URL+"/status"), chromedp.WaitVisible(chromedp.ID("code")))
	shot(t, client, "client-code-phone")
	run(t, client, "client opens its link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("[data-client]")))
	shot(t, client, "client-waiting-phone")
	if got := location(t, client); got != "/status/projects/"+projectID {
		t.Errorf("client page at %s, want /status/projects/%s", got, projectID)
	}
	href := eval[string](t, client, "location.href")
	if strings.Contains(href, codes[0]) {
		t.Errorf("the code stayed in the address bar: %s", href)
	}
	waitJS(t, client, "client stream open", `document.querySelector("[data-client-live]") !== null`, 5*time.Second)
	run(t, client, "mark the document", js("window.__sameDocument = true"))

	// RUN lands on the status page with the project open; the bar reaches
	// 100 live, in the same document.
	run(t, ctx, "RUN", chromedp.Click(chromedp.CSS(`form[action$="/run"] button`)),
		chromedp.WaitVisible(chromedp.CSS("details[open]")))
	if got := location(t, ctx); got != "/projects/status?open="+projectID {
		t.Errorf("after RUN the browser is at %s", got)
	}
	run(t, ctx, "mark the document", js("window.__sameDocument = true"))
	waitJS(t, ctx, "status page live", `document.querySelector("[data-live-state]").textContent === "Live"`, 10*time.Second)
	row := fmt.Sprintf(`document.querySelector('li[data-project=%q]')`, projectID)
	waitJS(t, ctx, "progress moves", row+`.querySelector("progress").value > 0 && `+row+`.querySelector("progress").value < 100`, 30*time.Second)
	shot(t, ctx, "status-running-desktop")
	waitJS(t, ctx, "progress reaches 100", row+`.querySelector("progress").value === 100 && `+row+`.querySelector("[data-status-badge]").textContent === "Completed"`, 60*time.Second)
	same := eval[bool](t, ctx, "window.__sameDocument === true")
	if !same {
		t.Error("the status page reloaded to show progress")
	}
	shot(t, ctx, "status-completed-desktop")

	// The client saw the same run live, and downloads once the zip is made.
	waitJS(t, client, "client bar reaches 100", `document.querySelector("[data-client] progress").value === 100`, 30*time.Second)
	waitJS(t, client, "client download appears", `!document.querySelector("[data-download]").hidden`, 30*time.Second)
	same = eval[bool](t, client, "window.__sameDocument === true")
	if !same {
		t.Error("the client page reloaded to show progress")
	}
	shot(t, client, "client-completed-phone")
	dl := eval[string](t, client, `document.querySelector("[data-download]").getAttribute("href")`)
	checkZip(t, fetchZip(t, client, dl))
	overflow := eval[bool](t, client, "document.documentElement.scrollWidth > window.innerWidth")
	if overflow {
		t.Error("the client page is wider than a 390 px phone")
	}

	// The run page shows main.py's output and the run's end.
	run(t, ctx, "open the run", chromedp.Navigate(a.URL+projectPath), chromedp.WaitVisible(chromedp.CSS(".table a.mono")),
		chromedp.Click(chromedp.CSS(".table a.mono")), chromedp.WaitVisible(chromedp.CSS("[data-log]")))
	waitJS(t, ctx, "log ends", `!document.querySelector("[data-log-end]").hidden`, 30*time.Second)
	if got := text(t, ctx, "[data-log]"); !strings.Contains(got, "PROGRESS 100") {
		t.Errorf("the log page lacks main.py's output: %q", got)
	}
	shot(t, ctx, "run-log-desktop")

	// The tenant's own download of the latest completed run.
	run(t, ctx, "back to the project", chromedp.Navigate(a.URL+projectPath), chromedp.WaitVisible(chromedp.ID("run-h")))
	tenantDL := eval[string](t, ctx, `(document.querySelector("a[download]") || {getAttribute: () => ""}).getAttribute("href")`)
	if tenantDL == "" {
		t.Fatal("the project page has no download after a completed run")
	}
	checkZip(t, fetchZip(t, ctx, tenantDL))
	shot(t, ctx, "project-completed-desktop")

	// Markup in a name stays text.
	hostile := `<img src=x onerror=alert(1)>`
	run(t, ctx, "create a project with markup in its name",
		chromedp.Navigate(a.URL+"/projects/new"), chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), hostile), chromedp.SendKeys(chromedp.ID("description"), "<script>alert(2)</script>"),
		chromedp.SendKeys(chromedp.ID("objectives"), "x"), chromedp.Submit(chromedp.ID("name")),
		chromedp.WaitVisible(chromedp.ID("run-h")))
	if got := text(t, ctx, "h1"); got != hostile {
		t.Errorf("the project's title reads %q, want the name as text", got)
	}
	imgs := eval[int](t, ctx, `document.querySelectorAll("main img").length`)
	if imgs != 0 {
		t.Errorf("markup in the name became %d <img> elements", imgs)
	}
	run(t, ctx, "list", chromedp.Navigate(a.URL+"/projects"), chromedp.WaitVisible(chromedp.CSS(".table")))
	imgs = eval[int](t, ctx, `document.querySelectorAll("main img").length`)
	if imgs != 0 {
		t.Errorf("markup in the name became %d <img> elements in the list", imgs)
	}
	shot(t, ctx, "projects-desktop")

	// A form posted without its CSRF token is refused.
	run(t, ctx, "post without the token", chromedp.Navigate(a.URL+"/projects/new"), chromedp.WaitVisible(chromedp.ID("name")),
		js(`document.querySelector('main form input[name="_csrf"]').remove()`),
		chromedp.SendKeys(chromedp.ID("name"), "forged"), chromedp.SendKeys(chromedp.ID("description"), "d"),
		chromedp.SendKeys(chromedp.ID("objectives"), "o"), chromedp.Submit(chromedp.ID("name")),
		chromedp.WaitVisible(chromedp.CSS(".error-page")))
	if got := text(t, ctx, ".error-page"); !strings.Contains(got, "403") || !strings.Contains(got, "reload the page") {
		t.Errorf("a form without its token: %q", got)
	}
	list := a.Must(200, a.Do("GET", "/api/tenant/projects?q=forged", key, nil))
	if n := list["total"].(float64); n != 0 {
		t.Errorf("the forged form made %v projects", n)
	}

	// Every page, at desktop and phone width: nothing wider than the phone.
	run(t, ctx, "find the run page", chromedp.Navigate(a.URL+projectPath), chromedp.WaitVisible(chromedp.CSS(".table a.mono")))
	runPath := eval[string](t, ctx, `document.querySelector(".table a.mono").getAttribute("href")`)
	tour(t, ctx, a.URL, map[string]string{
		"projects": "/projects", "status": "/projects/status?open=" + projectID, "project": projectPath,
		"run": runPath, "codes": "/codes", "profile": "/profile", "billing": "/billing", "not-found": "/projects/nowhere",
	})

	// Sign out: the tenant's pages are closed again.
	run(t, ctx, "sign out", chromedp.Navigate(a.URL+"/projects"), chromedp.WaitVisible(chromedp.CSS(".signout button")),
		chromedp.Click(chromedp.CSS(".signout button")), chromedp.WaitVisible(chromedp.ID("email")))
	run(t, ctx, "project page signed out", chromedp.Navigate(a.URL+projectPath), chromedp.WaitVisible(chromedp.ID("email")))
	if got := location(t, ctx); got != "/" {
		t.Errorf("signed out, the project page went to %s", got)
	}
	status := eval[int](t, ctx, fmt.Sprintf(`(async () => (await fetch(%q)).status)()`, "/api/tenant/projects/"+projectID),
		chromedp.EvalAwaitPromise)
	if status != 401 {
		t.Errorf("signed out, the API answered the browser %d, want 401", status)
	}
}

// tour screenshots each page at desktop and phone width, and fails a page
// that is wider than the phone.
func tour(t *testing.T, ctx context.Context, base string, pages map[string]string) {
	t.Helper()
	for _, size := range []struct {
		name   string
		w, h   int64
		mobile bool
	}{{"desktop", desktopW, desktopH, false}, {"phone", phoneW, phoneH, true}} {
		var opts []chromedp.EmulateViewportOption
		if size.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
		}
		run(t, ctx, "viewport "+size.name, chromedp.EmulateViewport(size.w, size.h, opts...))
		for name, path := range pages {
			run(t, ctx, "open "+path, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main")))
			if eval[bool](t, ctx, "document.documentElement.scrollWidth > window.innerWidth + 1") {
				t.Errorf("%s is wider than the %s viewport (%d px)", path, size.name, size.w)
			}
			unlabelled := eval[[]string](t, ctx, `[...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
				.filter(e => !(e.id && document.querySelector('label[for="' + e.id + '"]')) && !e.getAttribute("aria-label"))
				.map(e => e.name || e.id || e.outerHTML)`)
			if len(unlabelled) > 0 {
				t.Errorf("%s: inputs without a label: %v", path, unlabelled)
			}
			if n := eval[int](t, ctx, `[...document.querySelectorAll("button")].filter(b => !b.textContent.trim()).length`); n > 0 {
				t.Errorf("%s: %d buttons without visible text", path, n)
			}
			shot(t, ctx, "tour-"+name+"-"+size.name)
		}
	}
	run(t, ctx, "viewport back to desktop", chromedp.EmulateViewport(desktopW, desktopH))
}
