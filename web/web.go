// Package web is q2o's portal, served by `q2o api` on the same origin as the
// JSON API: the tenant portal (sign in by emailed code, projects, RUN, the
// live status page, run logs, profile, billing, activation codes) and the
// client dashboard (/status: one project, opened with an activation code).
//
// Pages are rendered on the server from html/template files embedded in the
// binary and work as plain HTML forms (POST, then a redirect). One small
// script, static/portal.js, adds what needs a browser: live progress and
// logs through the API's Server-Sent Events (EventSource, which resumes with
// Last-Event-ID by itself), copy buttons and the colour preview.
//
// Handlers are decode → one service call → render, like the API's: every
// rule (may this project run? is this code available?) is the service's, so
// the page shows the same refusal the API gives.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/ratelimit"
	"github.com/q2o/q2o/service"
)

// Cookie names. The API reads the first two on its GET routes (event
// streams, logs, downloads), which a browser cannot send a header to.
const (
	// SessionCookie holds a tenant's session token (q2s_…, from OTP sign-in).
	SessionCookie = "q2o_session"
	// ClientCookie holds a client's session token (q2c_…) for one project,
	// made from its activation code.
	ClientCookie = "q2o_client"
	csrfCookie   = "q2o_csrf"
	flashCookie  = "q2o_flash"
	linkCookie   = "q2o_client_link"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Billing is what the billing page needs of Stripe (package billing is one).
type Billing interface {
	Upgrade(ctx context.Context, tenantID uuid.UUID, plan string) (service.UpgradeResult, error)
	Portal(ctx context.Context, tenantID uuid.UUID) (string, error)
}

// Config is what the portal needs beyond the service.
type Config struct {
	// PublicURL is the address tenants use (Q2O_PUBLIC_URL); an https one
	// makes every cookie Secure.
	PublicURL string
	// TrustedProxies are the reverse proxies whose X-Forwarded-Proto is
	// believed (Secure cookies behind a TLS-terminating proxy).
	TrustedProxies []*net.IPNet
	// Limiter holds the sign-in and activation-code limits, shared with the
	// API (the same buckets), so the portal is no way around them.
	Limiter *ratelimit.Limiter
	// Billing, when set, turns on upgrade and the customer portal.
	Billing Billing
}

// Portal is the web portal.
type Portal struct {
	svc   *service.Service
	cfg   Config
	log   *slog.Logger
	pages map[string]*template.Template
	// csrf checks the token of every state-changing form; csrfSecure is the
	// same for requests over TLS (its cookie is Secure).
	csrf, csrfSecure echo.MiddlewareFunc
	secureAlways     bool
}

// New builds the portal. It fails only if a template does not parse.
func New(svc *service.Service, cfg Config, log *slog.Logger) (*Portal, error) {
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	p := &Portal{svc: svc, cfg: cfg, log: log, pages: pages}
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Scheme == "https" {
		p.secureAlways = true
	}
	p.csrf, p.csrfSecure = p.csrfMiddleware(false), p.csrfMiddleware(true)
	return p, nil
}

// Register adds the portal's routes to e, and makes e's error answers for
// them pages instead of JSON.
func (p *Portal) Register(e *echo.Echo) {
	apiErrors := e.HTTPErrorHandler
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		if isPagePath(c.Request().URL.Path) {
			p.errorPage(err, c)
			return
		}
		apiErrors(err, c)
	}

	static, _ := fs.Sub(staticFS, "static")
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", staticHandler(static))))

	// The middleware goes on each route, not on a group: a group with
	// middleware catches every unknown path and method of the whole server
	// (the API's 404s and 405s included).
	g := router{e: e, mw: []echo.MiddlewareFunc{p.headers, p.checkCSRF}}
	p.authRoutes(g)
	p.projectRoutes(g)
	p.accountRoutes(g)
	p.clientRoutes(g)
}

// router registers the portal's routes, each with the portal's middleware
// first.
type router struct {
	e  *echo.Echo
	mw []echo.MiddlewareFunc
}

func (r router) chain(m []echo.MiddlewareFunc) []echo.MiddlewareFunc {
	return append(append([]echo.MiddlewareFunc{}, r.mw...), m...)
}

// GET registers a page.
func (r router) GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	r.e.GET(path, h, r.chain(m)...)
}

// POST registers a form's target.
func (r router) POST(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	r.e.POST(path, h, r.chain(m)...)
}

// isPagePath reports whether path belongs to the portal rather than to the
// API or operations (which answer JSON or their own formats).
func isPagePath(path string) bool {
	for _, prefix := range []string{"/api/", "/healthz", "/readyz", "/metrics", "/monitoring"} {
		if path == strings.TrimSuffix(prefix, "/") || strings.HasPrefix(path, prefix) {
			return false
		}
	}
	return true
}

// staticHandler serves the embedded files; they change only with the
// binary, so a browser keeps them for an hour and revalidates after.
func staticHandler(root fs.FS) http.Handler {
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy allows no inline script or style (the tenant's
// colour is set by portal.js through the CSSOM), no framing, and forms that
// go only here or to Stripe's Checkout and portal (a redirect after a form
// post counts as its target).
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; " +
	"form-action 'self' https://checkout.stripe.com https://billing.stripe.com"

func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// headers sets the security headers of every page.
func (p *Portal) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		setPageHeaders(c.Response().Header())
		return next(c)
	}
}

// errCSRF answers a form posted without its token, or with another's.
var errCSRF = models.Errorf(models.KindForbidden, "csrf_invalid",
	"this form has expired or did not come from this site; reload the page and send it again")

// csrfMiddleware is Echo's double-submit-cookie CSRF check with the token in
// the form field _csrf.
func (p *Portal) csrfMiddleware(secure bool) echo.MiddlewareFunc {
	return middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "form:_csrf",
		CookieName:     csrfCookie,
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSecure:   secure,
		CookieSameSite: http.SameSiteLaxMode,
		CookieMaxAge:   int((12 * time.Hour).Seconds()),
		ErrorHandler:   func(error, echo.Context) error { return errCSRF },
	})
}

// checkCSRF refuses every state-changing request without the form's token.
// Echo's middleware lets a request through on Sec-Fetch-Site: same-origin
// alone; the portal wants the token always (a same-origin page injected
// into is still refused), so it refuses cross-site requests itself and
// hands the rest to the token check without that header.
func (p *Portal) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	plain, secure := p.csrf(next), p.csrfSecure(next)
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
				return errCSRF
			}
		}
		r.Header.Del("Sec-Fetch-Site")
		if p.secure(c) {
			return secure(c)
		}
		return plain(c)
	}
}

// secure reports whether the browser reached us over TLS: Q2O_PUBLIC_URL is
// https, the connection is TLS, or a trusted proxy says it terminated TLS.
func (p *Portal) secure(c echo.Context) bool {
	r := c.Request()
	if p.secureAlways || r.TLS != nil {
		return true
	}
	if !strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	for _, n := range p.cfg.TrustedProxies {
		if ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// setCookie sets an HttpOnly, SameSite=Lax cookie for the whole site;
// maxAge < 0 deletes it.
func (p *Portal) setCookie(c echo.Context, name, value string, maxAge time.Duration) {
	ck := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: p.secure(c)}
	if maxAge < 0 {
		ck.MaxAge = -1
	} else {
		ck.MaxAge = int(maxAge.Seconds())
		ck.Expires = time.Now().Add(maxAge)
	}
	c.SetCookie(ck)
}

// flash keeps a one-line message for the next page (after a redirect).
func (p *Portal) flash(c echo.Context, msg string) { p.keep(c, flashCookie, msg) }

// takeFlash reads and clears the message left by flash.
func (p *Portal) takeFlash(c echo.Context) string { return p.take(c, flashCookie) }

// keep holds a value for the next page in a one-minute cookie: never in the
// URL, where a client link (which holds an activation code) would reach
// the browser history.
func (p *Portal) keep(c echo.Context, name, value string) {
	p.setCookie(c, name, url.QueryEscape(value), time.Minute)
}

// take reads and clears a value left by keep.
func (p *Portal) take(c echo.Context, name string) string {
	ck, err := c.Cookie(name)
	if err != nil || ck.Value == "" {
		return ""
	}
	p.setCookie(c, name, "", -1)
	v, err := url.QueryUnescape(ck.Value)
	if err != nil {
		return ""
	}
	return v
}

// redirect answers a form post with 303 See Other, so that reloading the
// next page does not send the form again.
func redirect(c echo.Context, to string) error { return c.Redirect(http.StatusSeeOther, to) }

// errorPage renders an error as a page: the status the API would answer,
// with its message for a refusal, and a plain apology for anything else
// (whose text goes to the log, never to the page).
func (p *Portal) errorPage(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, title, msg := http.StatusInternalServerError, "Something went wrong",
		"We could not show this page. The problem has been logged; try again in a moment."
	var appErr *models.Error
	var httpErr *echo.HTTPError
	switch {
	case errors.As(err, &appErr):
		status, msg = statusOf(appErr), appErr.Message
		title = http.StatusText(status)
		if status == http.StatusNotFound {
			title, msg = "Page not found", "There is nothing here. It may have been deleted, or the link is wrong."
		}
	case errors.As(err, &httpErr) && httpErr.Code < 500:
		status = httpErr.Code
		title, msg = http.StatusText(status), fmt.Sprint(httpErr.Message)
		if status == http.StatusNotFound {
			title, msg = "Page not found", "There is nothing here. It may have been deleted, or the link is wrong."
		}
		if status == http.StatusMethodNotAllowed {
			msg = "This page does not take that kind of request."
		}
	}
	if status >= 500 {
		p.log.ErrorContext(c.Request().Context(), "page failed", "request_id", c.Response().Header().Get(echo.HeaderXRequestID),
			"method", c.Request().Method, "path", c.Request().URL.Path, "status", status, "error", err)
	}
	setRetryAfter(c, err)
	setPageHeaders(c.Response().Header())
	v := p.view(c, title)
	v.Data = map[string]any{"Status": status, "Message": msg}
	if err := p.renderStatus(c, status, "error", v); err != nil {
		p.log.Error("render error page", "error", err)
		_ = c.String(status, title)
	}
}

// statusOf is the status of a page refused with e: the API's own
// (models.Kind.HTTPStatus).
func statusOf(e *models.Error) int { return e.Kind.HTTPStatus() }
