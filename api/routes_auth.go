package api

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/service"
)

// The sign-in limits, counted in Redis so they hold across API replicas. Per
// email they stop a mailbox being flooded and a code being guessed; per
// client IP they stop one client trying many emails.
var (
	otpRequestPerEmail = redis_rate.Limit{Rate: 5, Burst: 5, Period: 15 * time.Minute}
	otpVerifyPerEmail  = redis_rate.Limit{Rate: 10, Burst: 10, Period: 15 * time.Minute}
	otpPerIP           = redis_rate.PerMinute(20)
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
	if err := s.allow(c, "otp:request:ip:"+c.RealIP(), otpPerIP); err != nil {
		return err
	}
	var in service.OTPRequest
	if err := decode(c, &in); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	if err := s.allow(c, "otp:request:email:"+emailBucket(in.Email), otpRequestPerEmail); err != nil {
		return err
	}
	if err := s.svc.RequestOTP(c.Request().Context(), in); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, otpRequested)
}

func (s *Server) verifyOTP(c echo.Context) error {
	if err := s.allow(c, "otp:verify:ip:"+c.RealIP(), otpPerIP); err != nil {
		return err
	}
	var in service.OTPVerify
	if err := decode(c, &in); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	if err := s.allow(c, "otp:verify:email:"+emailBucket(in.Email), otpVerifyPerEmail); err != nil {
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

// emailBucket names an email's rate-limit bucket without writing the address
// into Redis.
func emailBucket(email string) string {
	h := sha256.Sum256([]byte(email))
	return hex.EncodeToString(h[:12])
}
