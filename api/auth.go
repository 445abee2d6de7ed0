package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/ratelimit"
	"github.com/q2o/q2o/service"
)

// otpRequested is the one answer to a code request, known email or not.
var otpRequested = map[string]any{
	"status":     "accepted",
	"message":    "if this email belongs to an account, a sign-in code is on its way",
	"expires_in": int(service.OTPTTL / time.Second),
}

// authRoutes: OTP sign-in and logout.
func (s *Server) authRoutes(e *echo.Echo) {
	auth := e.Group("/api/auth")
	auth.POST("/otp/request", s.requestOTP)
	auth.POST("/otp/verify", s.verifyOTP)
	auth.POST("/logout", s.logout)
}

func (s *Server) requestOTP(c echo.Context) error {
	if err := s.limiter.Allow(c.Request().Context(), ratelimit.OTPPerIP, c.RealIP()); err != nil {
		return err
	}
	var in service.OTPRequest
	if err := decode(c, &in); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	if err := s.limiter.Allow(c.Request().Context(), ratelimit.OTPRequestPerEmail, ratelimit.EmailKey(in.Email)); err != nil {
		return err
	}
	if err := s.svc.RequestOTP(c.Request().Context(), in); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, otpRequested)
}

func (s *Server) verifyOTP(c echo.Context) error {
	if err := s.limiter.Allow(c.Request().Context(), ratelimit.OTPVerifyPerIP, c.RealIP()); err != nil {
		return err
	}
	var in service.OTPVerify
	if err := decode(c, &in); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	if err := s.limiter.Allow(c.Request().Context(), ratelimit.OTPVerifyPerEmail, ratelimit.EmailKey(in.Email)); err != nil {
		return err
	}
	sess, err := s.svc.VerifyOTP(c.Request().Context(), in)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, sess)
}

func (s *Server) logout(c echo.Context) error {
	token, ok := bearer(c)
	if !ok {
		return models.ErrUnauthorized
	}
	if err := s.svc.Logout(c.Request().Context(), token); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
