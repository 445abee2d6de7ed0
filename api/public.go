package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/q2o/q2o/models"
	"github.com/q2o/q2o/ratelimit"
	"github.com/q2o/q2o/service"
)

// The client's endpoints: a client holds only an activation code. Every
// refusal that concerns the code (unknown, revoked, expired, unassigned,
// another project's) is the same 404 not_found, so that a client learns
// nothing about other projects or codes.

// zipRetryAfter is the Retry-After, in seconds, of an answer that says the
// zip is being made.
const zipRetryAfter = 5

// activationCodeHeader carries the code on the download (and events) routes;
// ?code= does too, for a plain link.
const activationCodeHeader = "X-Activation-Code"

// publicRoutes: the client's activation and download (its events are in
// events.go). The per-IP limits come before anything else is read.
func (s *Server) publicRoutes(e *echo.Echo) {
	public := e.Group("/api/public")
	mount(public, post("/activate-project", http.StatusOK).withNoStore(), s.activateProject, s.limitIP(ratelimit.Activate))
	// A download is a file answered by http.ServeContent (Range, HEAD…),
	// not a JSON value: a plain handler.
	public.GET("/projects/:project_id/download", s.downloadProject, s.limitIP(ratelimit.Download))
	public.HEAD("/projects/:project_id/download", s.downloadProject, s.limitIP(ratelimit.Download))
}

type activateReq struct {
	Body struct {
		Code *string `json:"code"`
	}
}

func (r *activateReq) body() any { return &r.Body }

// Validate: Errors: missing_field (400) for no code or a blank one.
func (r *activateReq) Validate() error {
	if r.Body.Code == nil || strings.TrimSpace(*r.Body.Code) == "" {
		return models.FieldError("code", "missing_field", "code is required")
	}
	return nil
}

// activateProject: POST /api/public/activate-project {"code"} → the project
// that code opens (service.PublicProject), never cached.
func (s *Server) activateProject(ctx context.Context, req *activateReq) (*service.PublicProject, error) {
	return answer(s.svc.ActivateProject(ctx, *req.Body.Code))
}

// downloadProject: GET|HEAD /api/public/projects/:project_id/download, the
// zip of the project's completed run, with Range, If-Range, If-None-Match
// and HEAD done by http.ServeContent on the open file. While the zip is
// being made it answers 202 zip_pending with Retry-After; when the recorded
// file has vanished, 404 zip_missing with Retry-After (it is being made
// again, and the next tries answer 202 until it is there).
func (s *Server) downloadProject(c echo.Context) error {
	id, err := pathID(c, "project_id", service.ErrPublicNotFound)
	if err != nil {
		return err
	}
	d, err := s.svc.OpenDownload(c.Request().Context(), id, s.activationCode(c))
	return serveDownload(c, d, err)
}

// zipPending is the 202 answer while the zip is being made.
type zipPending struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// serveDownload answers an opened download (service.Download): the zip,
// through http.ServeContent, or 202 zip_pending while it is being made; or
// the error, with Retry-After when the zip is being made again.
func serveDownload(c echo.Context, d service.Download, err error) error {
	h := c.Response().Header()
	if err != nil {
		if errors.Is(err, service.ErrZipMissing) {
			h.Set("Retry-After", strconv.Itoa(zipRetryAfter))
		}
		return err
	}
	if d.Pending {
		h.Set("Retry-After", strconv.Itoa(zipRetryAfter))
		h.Set(echo.HeaderCacheControl, "no-store")
		return c.JSON(http.StatusAccepted, zipPending{
			Code:    "zip_pending",
			Message: "the zip is being made; try again in " + strconv.Itoa(zipRetryAfter) + " s",
		})
	}
	defer d.File.Close()
	if d.Presign != nil && c.Request().Method == http.MethodGet && !notModified(c.Request(), d.SHA256) {
		// A large zip from the object store itself (Q2O_S3_PRESIGN_ABOVE):
		// the URL answers Range as the API would.
		u, err := d.Presign(c.Request().Context(), contentDisposition(d.ProjectName+".zip"))
		if err != nil {
			return err
		}
		h.Set(echo.HeaderCacheControl, "no-store")
		return c.Redirect(http.StatusFound, u)
	}
	h.Set(echo.HeaderContentType, "application/zip")
	h.Set(echo.HeaderContentDisposition, contentDisposition(d.ProjectName+".zip"))
	// The answer depends on the credential, which a shared cache does not see.
	h.Set(echo.HeaderCacheControl, "private, no-cache")
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	if d.SHA256 != "" {
		h.Set("ETag", `"`+d.SHA256+`"`)
	}
	http.ServeContent(&sendfileWriter{Response: c.Response()}, c.Request(), "", d.ModTime, d.File)
	return nil
}

// notModified reports whether the request's If-None-Match names the zip's
// ETag (its SHA-256), which http.ServeContent answers with 304.
func notModified(r *http.Request, sha string) bool {
	inm := r.Header.Get("If-None-Match")
	if inm == "" || sha == "" {
		return false
	}
	for _, tag := range strings.Split(inm, ",") {
		if t := strings.TrimSpace(tag); t == "*" || strings.TrimPrefix(t, "W/") == `"`+sha+`"` {
			return true
		}
	}
	return false
}

// serveContentErrors are the refusals http.ServeContent writes itself, in
// plain text or with no body; sendfileWriter turns them into the one JSON
// error shape.
var serveContentErrors = map[int]ErrorDetail{
	http.StatusPreconditionFailed:           {Code: "precondition_failed", Message: "the zip does not match If-Match / If-Unmodified-Since"},
	http.StatusRequestedRangeNotSatisfiable: {Code: "range_not_satisfiable", Message: "the requested range is outside the zip; see Content-Range for its size"},
}

// sendfileWriter lets http.ServeContent copy the file through the
// connection's ReadFrom (sendfile on Linux) instead of a 32 KiB buffer loop,
// while Echo's Response still records the status and size for the access
// log.
type sendfileWriter struct {
	*echo.Response
	refused bool // an error answer has been written; drop ServeContent's own body
}

// WriteHeader answers ServeContent's 412 and 416 in the one error shape.
func (w *sendfileWriter) WriteHeader(code int) {
	detail, ok := serveContentErrors[code]
	if !ok {
		w.Response.WriteHeader(code)
		return
	}
	h := w.Header()
	h.Del(echo.HeaderContentLength)
	h.Del("ETag")
	h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	w.Response.WriteHeader(code)
	w.refused = true
	if w.Response.Status == code && w.Response.Committed {
		_ = json.NewEncoder(w.Response).Encode(ErrorBody{Error: detail})
	}
}

// Write drops ServeContent's plain-text body after an error answer.
func (w *sendfileWriter) Write(p []byte) (int, error) {
	if w.refused {
		return len(p), nil
	}
	return w.Response.Write(p)
}

func (w *sendfileWriter) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := w.Writer.(io.ReaderFrom)
	if !ok {
		return io.Copy(w.Response, r)
	}
	if !w.Committed {
		w.WriteHeader(http.StatusOK)
	}
	n, err := rf.ReadFrom(r)
	w.Size += n
	return n, err
}

// activationCode reads the client's credential (an activation code or a
// client session token) from X-Activation-Code, else ?code=, else the
// ClientCookie.
func (s *Server) activationCode(c echo.Context) string {
	if v := c.Request().Header.Get(activationCodeHeader); v != "" {
		return v
	}
	if v := c.QueryParam("code"); v != "" {
		return v
	}
	if s.cfg.ClientCookie != "" {
		if ck, err := c.Cookie(s.cfg.ClientCookie); err == nil {
			return ck.Value
		}
	}
	return ""
}

// contentDisposition makes an attachment header for name (RFC 6266): a
// quoted ASCII filename with quotes, backslashes, slashes, control and
// non-ASCII characters replaced by "_", and, when that lost something, the
// UTF-8 name as filename* (RFC 5987) for the clients that read it.
func contentDisposition(name string) string {
	var ascii, full strings.Builder
	for _, r := range name {
		switch {
		case r == utf8.RuneError, r < 0x20, r == 0x7f, r == '/', r == '\\', r >= 0x80 && r < 0xa0,
			r == '\u2028', r == '\u2029':
			ascii.WriteByte('_')
			full.WriteByte('_')
		case r == '"' || r >= 0x80:
			ascii.WriteByte('_')
			full.WriteRune(r)
		default:
			ascii.WriteRune(r)
			full.WriteRune(r)
		}
	}
	v := `attachment; filename="` + ascii.String() + `"`
	if full.String() != ascii.String() {
		v += "; filename*=UTF-8''" + rfc5987(full.String())
	}
	return v
}

// rfc5987 percent-encodes s as an RFC 5987 ext-value's value-chars.
func rfc5987(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}
