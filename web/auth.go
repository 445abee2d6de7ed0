package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/ratelimit"
	"github.com/q2o/q2o/service"
)

// Keys of request-scoped values on the echo.Context.
const (
	tenantIDKey   = "web.tenant_id"
	tenantNameKey = "web.tenant_name"
	profileKey    = "web.profile"
)

// tenantOf is the signed-in tenant of a page behind requireSession.
func tenantOf(c echo.Context) uuid.UUID {
	id, _ := c.Get(tenantIDKey).(uuid.UUID)
	return id
}

// signInForm is the sign-in page's data: the email step, or the code step
// once a code has been asked for.
type signInForm struct {
	Email    string
	CodeStep bool
	Error    string
	Field    string
}

func (p *Portal) authRoutes(g router) {
	g.GET("/", p.home)
	g.POST("/signin", p.requestCode)
	g.POST("/signin/verify", p.verifyCode)
	g.POST("/signout", p.signOut)
}

// home is the projects list when signed in, the sign-in form otherwise.
func (p *Portal) home(c echo.Context) error {
	if _, err := p.sessionTenant(c); err == nil {
		return redirect(c, "/projects")
	}
	return p.render(c, "signin", p.signInView(c, signInForm{}))
}

func (p *Portal) signInView(c echo.Context, f signInForm) view {
	v := p.view(c, "Sign in")
	v.Data = f
	return v
}

// signInError renders the form again with a refusal next to its field.
func (p *Portal) signInError(c echo.Context, f signInForm, err error) error {
	appErr, ok := models.AsError(err)
	if !ok {
		return err
	}
	f.Error, f.Field = appErr.Message, appErr.Field
	setRetryAfter(c, err)
	return p.renderStatus(c, statusOf(appErr), "signin", p.signInView(c, f))
}

// requestCode mails a sign-in code, under the API's limits; the page that
// follows is the same whether or not the email is a tenant's.
func (p *Portal) requestCode(c echo.Context) error {
	ctx, ip := c.Request().Context(), c.RealIP()
	in := service.OTPRequest{Email: c.FormValue("email")}
	f := signInForm{Email: strings.TrimSpace(in.Email)}
	if err := p.cfg.Limiter.Allow(ctx, ratelimit.OTPPerIP, ip); err != nil {
		return p.signInError(c, f, err)
	}
	if err := in.Validate(); err != nil {
		return p.signInError(c, f, err)
	}
	if err := p.cfg.Limiter.Allow(ctx, ratelimit.OTPRequestPerEmail, ratelimit.EmailKey(in.Email)); err != nil {
		return p.signInError(c, f, err)
	}
	if err := p.svc.RequestOTP(ctx, in); err != nil {
		return p.signInError(c, f, err)
	}
	f.Email, f.CodeStep = in.Email, true
	return p.render(c, "signin", p.signInView(c, f))
}

// verifyCode trades the emailed code for a session cookie.
func (p *Portal) verifyCode(c echo.Context) error {
	ctx, ip := c.Request().Context(), c.RealIP()
	in := service.OTPVerify{Email: c.FormValue("email"), Code: c.FormValue("code")}
	f := signInForm{Email: strings.TrimSpace(in.Email), CodeStep: true}
	if err := p.cfg.Limiter.Allow(ctx, ratelimit.OTPVerifyPerIP, ip); err != nil {
		return p.signInError(c, f, err)
	}
	if err := in.Validate(); err != nil {
		if models.ErrorCode(err) == "invalid_email" || in.Email == "" {
			f.CodeStep = false
		}
		return p.signInError(c, f, err)
	}
	if err := p.cfg.Limiter.Allow(ctx, ratelimit.OTPVerifyPerEmail, ratelimit.EmailKey(in.Email)); err != nil {
		return p.signInError(c, f, err)
	}
	sess, err := p.svc.VerifyOTP(ctx, in)
	if err != nil {
		return p.signInError(c, f, err)
	}
	p.setCookie(c, SessionCookie, sess.Token, time.Until(sess.ExpiresAt))
	return redirect(c, "/projects")
}

// signOut ends the session in the database and drops the cookie.
func (p *Portal) signOut(c echo.Context) error {
	if ck, err := c.Cookie(SessionCookie); err == nil && ck.Value != "" {
		if err := p.svc.Logout(c.Request().Context(), ck.Value); err != nil && models.ErrorCode(err) != "unauthorized" {
			return err
		}
	}
	p.setCookie(c, SessionCookie, "", -1)
	p.flash(c, "You are signed out.")
	return redirect(c, "/")
}

// sessionTenant is the tenant of the request's session cookie.
// Errors: unauthorized (401).
func (p *Portal) sessionTenant(c echo.Context) (uuid.UUID, error) {
	ck, err := c.Cookie(SessionCookie)
	if err != nil || !strings.HasPrefix(ck.Value, "q2s_") {
		return uuid.Nil, models.ErrUnauthorized
	}
	return p.svc.Authenticate(c.Request().Context(), ck.Value)
}

// requireSession lets only a signed-in tenant through; any other browser
// goes to the sign-in page (a form post is refused: its data would be lost
// on the way).
func (p *Portal) requireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := p.sessionTenant(c)
		if err != nil {
			if models.ErrorCode(err) != "unauthorized" {
				return err
			}
			p.setCookie(c, SessionCookie, "", -1)
			if c.Request().Method == http.MethodGet {
				p.flash(c, "Sign in to continue.")
				return redirect(c, "/")
			}
			return err
		}
		prof, err := p.svc.Profile(c.Request().Context(), id)
		if err != nil {
			return err
		}
		c.Set(tenantIDKey, id)
		c.Set(tenantNameKey, prof.Name)
		c.Set(profileKey, prof)
		return next(c)
	}
}

// profileOf is the signed-in tenant's profile, read by requireSession.
func profileOf(c echo.Context) service.Profile {
	prof, _ := c.Get(profileKey).(service.Profile)
	return prof
}

// setRetryAfter tells a rate-limited browser when to try again (whole
// seconds, at least 1), as the API does.
func setRetryAfter(c echo.Context, err error) {
	var ex *ratelimit.Exceeded
	if errors.As(err, &ex) {
		c.Response().Header().Set("Retry-After", strconv.Itoa(max(1, int(ex.RetryAfter.Round(time.Second)/time.Second))))
	}
}
