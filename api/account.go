package api

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

func (s *Server) getProfile(c echo.Context) error {
	p, err := s.svc.Profile(c.Request().Context(), tenantID(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

func (s *Server) updateProfile(c echo.Context) error {
	var in service.ProfileUpdate
	if err := decode(c, &in); err != nil {
		return err
	}
	p, err := s.svc.UpdateProfile(c.Request().Context(), tenantID(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// confirmEmailChange: POST /api/tenant/profile/email-change/confirm
// {"code"}: the pending email becomes the sign-in email; the profile.
func (s *Server) confirmEmailChange(c echo.Context) error {
	var in service.EmailCode
	if err := decode(c, &in); err != nil {
		return err
	}
	p, err := s.svc.ConfirmEmailChange(c.Request().Context(), tenantID(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// cancelEmailChange: DELETE /api/tenant/profile/email-change; 204, pending
// or not.
func (s *Server) cancelEmailChange(c echo.Context) error {
	if err := s.svc.CancelEmailChange(c.Request().Context(), tenantID(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// listCodes: GET /api/tenant/activation-codes?page&per_page&status.
func (s *Server) listCodes(c echo.Context) error {
	var q service.CodeListQuery
	var err error
	if q.Page, err = codeListParam(c, "page", "invalid_page"); err != nil {
		return err
	}
	if q.PerPage, err = codeListParam(c, "per_page", "invalid_per_page"); err != nil {
		return err
	}
	q.Status = c.QueryParam("status")
	page, err := s.svc.ActivationCodes(c.Request().Context(), tenantID(c), q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

// codeListParam reads a positive integer query parameter; absent is 0 (the
// service's default).
func codeListParam(c echo.Context, name, code string) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, models.FieldError(name, code, "%s must be a whole number, 1 or more", name)
	}
	return n, nil
}

func (s *Server) generateCodes(c echo.Context) error {
	var in service.CodeRequest
	if err := decode(c, &in); err != nil {
		return err
	}
	out, err := s.svc.GenerateActivationCodes(c.Request().Context(), tenantID(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) revokeTenantCode(c echo.Context) error {
	id, err := pathID(c, "code_id", models.ErrCodeNotFound)
	if err != nil {
		return err
	}
	code, err := s.svc.RevokeTenantActivationCode(c.Request().Context(), tenantID(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, code)
}
