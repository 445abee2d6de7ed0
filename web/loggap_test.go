package web_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/q2o/q2o/internal/apptest"
)

// A live log whose stream skips bytes (trimmed, and not stored yet) shows a
// marker line where they were, with how many, between the lines around it.
// No worker runs: the test publishes the queued run's stream itself, the
// second piece after the follower has read the first, so the API sends the
// gap every time.
func TestPortalLogShowsTheGap(t *testing.T) {
	a := apptest.New(t, apptest.Options{})
	id, email, key := newTenant(t, a, "active")
	pid := a.ReadyProject(apptest.Tenant{ID: id, Key: key}, "gapped")
	eid := a.Run(key, pid)

	ctx := tab(t, desktopW, desktopH, false)
	signIn(t, ctx, a.URL, email)
	pub := a.LogStreams().Publish(uuid.MustParse(eid))
	defer pub.Close()
	const first = "first line\n"
	pub.Write(0, []byte(first))
	run(t, ctx, "open the run", chromedp.Navigate(a.URL+"/projects/"+pid+"/runs/"+eid), chromedp.WaitVisible(chromedp.CSS("[data-log]")))
	waitJS(t, ctx, "first line shown", `document.querySelector("[data-log]").textContent.includes("first line")`, 20*time.Second)

	// 12,345 bytes the stream never gets, then a line after them.
	pub.Write(int64(len(first))+12345, []byte("after the gap\n"))
	waitJS(t, ctx, "line after the gap shown", `document.querySelector("[data-log]").textContent.includes("after the gap")`, 20*time.Second)
	want := "first line\n… 12,345 bytes of the log are no longer available …\nafter the gap\n"
	if got := eval[string](t, ctx, `document.querySelector("[data-log]").textContent`); got != want {
		t.Errorf("the log reads %q, want %q", got, want)
	}
	if got := eval[int](t, ctx, `document.querySelectorAll("[data-log] [data-log-gap]").length`); got != 1 {
		t.Errorf("%d gap markers, want 1", got)
	}
	shot(t, ctx, "run-log-gap-desktop")
}
