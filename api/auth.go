package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/ratelimit"
	"github.com/q2o/q2o/service"
)

// authRoutes: OTP sign-in and logout. The per-IP limits come before the
// body is read; the per-email ones once the email is known to be one.
func (s *Server) authRoutes(e *echo.Echo) {
	auth := e.Group("/api/auth")
	mount(auth, post("/otp/request", http.StatusAccepted), s.requestOTP, s.limitIP(ratelimit.OTPPerIP))
	mount(auth, post("/otp/verify", http.StatusOK).withNoStore(), s.verifyOTP, s.limitIP(ratelimit.OTPVerifyPerIP))
	mount(auth, post("/logout", http.StatusNoContent), s.logout)
}

type requestOTPReq struct{ Body service.OTPRequest }

func (r *requestOTPReq) body() any { return &r.Body }

// Validate: Errors: missing_field, invalid_email (400).
func (r *requestOTPReq) Validate() error { return r.Body.Validate() }

// otpRequested is the one answer to a code request, known email or not.
type otpRequested struct {
	ExpiresIn int    `json:"expires_in"`
	Message   string `json:"message"`
	Status    string `json:"status"`
}

// requestOTP: POST /api/auth/otp/request {"email"} answers 202 whether or
// not the email is a tenant's, so it tells nobody which are.
func (s *Server) requestOTP(ctx context.Context, req *requestOTPReq) (*otpRequested, error) {
	if err := s.limiter.Allow(ctx, ratelimit.OTPRequestPerEmail, ratelimit.EmailKey(req.Body.Email)); err != nil {
		return nil, err
	}
	if err := s.svc.RequestOTP(ctx, req.Body); err != nil {
		return nil, err
	}
	return &otpRequested{
		ExpiresIn: int(service.OTPTTL / time.Second),
		Message:   "if this email belongs to an account, a sign-in code is on its way",
		Status:    "accepted",
	}, nil
}

type verifyOTPReq struct{ Body service.OTPVerify }

func (r *verifyOTPReq) body() any { return &r.Body }

// Validate: Errors: missing_field, invalid_email, invalid_code_format (400).
func (r *verifyOTPReq) Validate() error { return r.Body.Validate() }

// verifyOTP: POST /api/auth/otp/verify {"email", "code"} answers the session
// (its token), never cached.
func (s *Server) verifyOTP(ctx context.Context, req *verifyOTPReq) (*service.Session, error) {
	if err := s.limiter.Allow(ctx, ratelimit.OTPVerifyPerEmail, ratelimit.EmailKey(req.Body.Email)); err != nil {
		return nil, err
	}
	return answer(s.svc.VerifyOTP(ctx, req.Body))
}

// logoutReq is the session token of the Authorization header.
type logoutReq struct{ Token string }

func (r *logoutReq) bind(c echo.Context) error {
	r.Token, _ = bearer(c)
	return nil
}

// Validate: Errors: unauthorized (401) without a bearer token.
func (r *logoutReq) Validate() error {
	if r.Token == "" {
		return models.ErrUnauthorized
	}
	return nil
}

// logout: POST /api/auth/logout ends the session of the bearer token.
func (s *Server) logout(ctx context.Context, req *logoutReq) (*noContent, error) {
	return nil, s.svc.Logout(ctx, req.Token)
}
