package web

import (
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

func (p *Portal) accountRoutes(g router) {
	s := p.requireSession
	g.GET("/profile", p.profilePage, s)
	g.POST("/profile", p.updateProfile, s)
	g.POST("/profile/email/confirm", p.confirmEmail, s)
	g.POST("/profile/email/cancel", p.cancelEmail, s)
	g.GET("/billing", p.billingPage, s)
	g.POST("/billing/upgrade", p.upgrade, s)
	g.POST("/billing/portal", p.billingPortal, s)
	g.GET("/codes", p.codesPage, s)
	g.POST("/codes/generate", p.generateCodes, s)
	g.POST("/codes/:id/revoke", p.revokeCode, s)
}

// profileData is the profile page: the profile, and the form as sent when
// it was refused.
type profileData struct {
	Profile service.Profile
	Form    map[string]string
	Error   string
	Field   string
	// DefaultColor is the colour the client dashboard uses when the tenant
	// sets none.
	DefaultColor string
	// EmailError is a refused confirmation code of a pending email change.
	EmailError string
}

const defaultBrandColor = "#4F46E5"

func profileForm(pr service.Profile) map[string]string {
	f := map[string]string{"name": pr.Name, "email": pr.Email, "phone": deref(pr.Phone).(string),
		"logo_url": deref(pr.LogoURL).(string), "primary_color": deref(pr.PrimaryColor).(string), "domain": deref(pr.Domain).(string)}
	if f["primary_color"] == "" {
		f["primary_color"] = defaultBrandColor
	}
	return f
}

func (p *Portal) profilePage(c echo.Context) error {
	pr := profileOf(c)
	v := p.view(c, "Profile")
	v.Nav, v.Data = "profile", profileData{Profile: pr, Form: profileForm(pr), DefaultColor: defaultBrandColor}
	return p.render(c, "profile", v)
}

func (p *Portal) updateProfile(c echo.Context) error {
	field := func(name string) service.OptionalField[string] {
		v := strings.TrimSpace(c.FormValue(name))
		return service.OptionalField[string]{Set: true, Value: &v}
	}
	in := service.ProfileUpdate{Name: field("name"), Email: field("email"), Phone: field("phone"),
		LogoURL: field("logo_url"), PrimaryColor: field("primary_color"), Domain: field("domain")}
	pr, err := p.svc.UpdateProfile(c.Request().Context(), tenantOf(c), in)
	if err != nil {
		e, ok := models.AsError(err)
		if !ok {
			return err
		}
		form := map[string]string{}
		for _, k := range []string{"name", "email", "phone", "logo_url", "primary_color", "domain"} {
			form[k] = c.FormValue(k)
		}
		v := p.view(c, "Profile")
		v.Nav = "profile"
		v.Data = profileData{Profile: profileOf(c), Form: form, Error: e.Message, Field: e.Field, DefaultColor: defaultBrandColor}
		return p.renderStatus(c, statusOf(e), "profile", v)
	}
	c.Set(tenantNameKey, pr.Name)
	if pr.PendingEmail != nil && pr.PendingEmail.Email != profileOf(c).Email {
		p.flash(c, "Profile saved. We sent a code to "+pr.PendingEmail.Email+": enter it below to make it your sign-in email. Until then you sign in with "+pr.Email+".")
	} else {
		p.flash(c, "Profile saved.")
	}
	return redirect(c, "/profile")
}

// confirmEmail applies a pending sign-in email with the code mailed to it.
func (p *Portal) confirmEmail(c echo.Context) error {
	if _, err := p.svc.ConfirmEmailChange(c.Request().Context(), tenantOf(c), service.EmailCode{Code: c.FormValue("code")}); err != nil {
		e, ok := models.AsError(err)
		if !ok {
			return err
		}
		pr := profileOf(c)
		v := p.view(c, "Profile")
		v.Nav = "profile"
		v.Data = profileData{Profile: pr, Form: profileForm(pr), EmailError: e.Message, DefaultColor: defaultBrandColor}
		return p.renderStatus(c, statusOf(e), "profile", v)
	}
	p.flash(c, "Email changed: sign-in codes now go to the new address.")
	return redirect(c, "/profile")
}

// cancelEmail drops a pending sign-in email change.
func (p *Portal) cancelEmail(c echo.Context) error {
	if err := p.svc.CancelEmailChange(c.Request().Context(), tenantOf(c)); err != nil {
		return err
	}
	p.flash(c, "Email change cancelled.")
	return redirect(c, "/profile")
}

// billingData is the billing page.
type billingData struct {
	Billing service.BillingOverview
	// Enabled is false when this server has no Stripe settings.
	Enabled bool
	// Notice is what Stripe's return (?billing=…) means.
	Notice string
}

var billingNotices = map[string]string{
	"success": "Thank you — your payment went through. Your plan updates as soon as Stripe confirms it.",
	"cancel":  "Checkout was cancelled; nothing was charged.",
	"portal":  "Welcome back from the billing portal.",
}

func (p *Portal) billingPage(c echo.Context) error {
	b, err := p.svc.Billing(c.Request().Context(), tenantOf(c))
	if err != nil {
		return err
	}
	v := p.view(c, "Billing")
	v.Nav = "billing"
	v.Data = billingData{Billing: b, Enabled: p.cfg.Billing != nil, Notice: billingNotices[c.QueryParam("billing")]}
	return p.render(c, "billing", v)
}

// billingRefused shows a refusal on the billing page.
func (p *Portal) billingRefused(c echo.Context, err error) error {
	e, ok := models.AsError(err)
	if !ok {
		return err
	}
	b, berr := p.svc.Billing(c.Request().Context(), tenantOf(c))
	if berr != nil {
		return berr
	}
	v := p.view(c, "Billing")
	v.Nav, v.Flash, v.Error = "billing", e.Message, true
	v.Data = billingData{Billing: b, Enabled: p.cfg.Billing != nil}
	return p.renderStatus(c, statusOf(e), "billing", v)
}

var errBillingOff = models.Errorf(models.KindUnavailable, "billing_unavailable",
	"billing is not set up on this server yet; ask your operator")

// upgrade sends the browser to Stripe Checkout for a first subscription, or
// changes the plan of a live one.
func (p *Portal) upgrade(c echo.Context) error {
	if p.cfg.Billing == nil {
		return p.billingRefused(c, errBillingOff)
	}
	res, err := p.cfg.Billing.Upgrade(c.Request().Context(), tenantOf(c), c.FormValue("plan"))
	if err != nil {
		return p.billingRefused(c, err)
	}
	if res.CheckoutURL != "" {
		return redirect(c, res.CheckoutURL)
	}
	p.flash(c, "Your plan has been changed.")
	return redirect(c, "/billing")
}

func (p *Portal) billingPortal(c echo.Context) error {
	if p.cfg.Billing == nil {
		return p.billingRefused(c, errBillingOff)
	}
	u, err := p.cfg.Billing.Portal(c.Request().Context(), tenantOf(c))
	if err != nil {
		return p.billingRefused(c, err)
	}
	return redirect(c, u)
}

// codesData is the activation codes page.
type codesData struct {
	Page     service.CodePage
	Status   string
	Statuses []string
	Quota    service.CodeQuota
	// New are the codes just made, shown with their plaintext this once.
	New      []newCode
	Error    string
	BaseURL  string
	PageNums []int
}

type newCode struct {
	Code       string
	ClientLink string
	Hint       string
}

func (p *Portal) codesData(c echo.Context) (codesData, error) {
	ctx, tenant := c.Request().Context(), tenantOf(c)
	d := codesData{Status: c.QueryParam("status"), Statuses: service.CodeStatuses(), Quota: profileOf(c).CodeQuota, BaseURL: p.baseURL(c)}
	page, _ := strconv.Atoi(c.QueryParam("page"))
	cp, err := p.svc.ActivationCodes(ctx, tenant, service.CodeListQuery{Page: max(page, 1), PerPage: 20, Status: d.Status})
	if err != nil {
		e, ok := models.AsError(err)
		if !ok {
			return d, err
		}
		d.Error, d.Status = e.Message, ""
		if cp, err = p.svc.ActivationCodes(ctx, tenant, service.CodeListQuery{Page: 1, PerPage: 20}); err != nil {
			return d, err
		}
	}
	d.Page = cp
	return d, nil
}

func (p *Portal) codesPage(c echo.Context) error {
	d, err := p.codesData(c)
	if err != nil {
		return err
	}
	v := p.view(c, "Activation codes")
	v.Nav, v.Data = "codes", d
	return p.render(c, "codes", v)
}

// optionalInt reads a number field; blank is nil (the service's default).
func optionalInt(c echo.Context, name string) (*int, error) {
	s := strings.TrimSpace(c.FormValue(name))
	if s == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil, models.FieldError(name, "invalid_"+name, "%s must be a whole number", strings.ReplaceAll(name, "_", " "))
	}
	return &n, nil
}

func (p *Portal) generateCodes(c echo.Context) error {
	var in service.CodeRequest
	var err error
	if in.Count, err = optionalInt(c, "count"); err == nil {
		if in.MaxUses, err = optionalInt(c, "max_uses"); err == nil {
			in.ExpiresInDays, err = optionalInt(c, "expires_in_days")
		}
	}
	var gen service.GeneratedCodes
	if err == nil {
		gen, err = p.svc.GenerateActivationCodes(c.Request().Context(), tenantOf(c), in)
	}
	d, derr := p.codesData(c)
	if derr != nil {
		return derr
	}
	v := p.view(c, "Activation codes")
	v.Nav = "codes"
	if err != nil {
		e, ok := models.AsError(err)
		if !ok {
			return err
		}
		v.Flash, v.Error = e.Message, true
		v.Data = d
		return p.renderStatus(c, statusOf(e), "codes", v)
	}
	d.Quota = gen.CodeQuota
	for _, code := range gen.Codes {
		d.New = append(d.New, newCode{Code: code.Code, ClientLink: p.clientLink(c, code.Code), Hint: code.CodeHint})
	}
	v.Data = d
	return p.render(c, "codes", v)
}

func (p *Portal) revokeCode(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if _, err := p.svc.RevokeTenantActivationCode(c.Request().Context(), tenantOf(c), id); err != nil {
		if err := asPage404(err); err == errPageNotFound {
			return err
		}
		e, ok := models.AsError(err)
		if !ok {
			return err
		}
		p.flash(c, e.Message)
		return redirect(c, "/codes")
	}
	p.flash(c, "Code revoked: it no longer opens its project, and runs that need it are refused.")
	return redirect(c, "/codes")
}
