package api

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// OpenAPIDocument is the OpenAPI 3 description of every route of the API,
// served at GET /api/openapi.yaml. Tests keep it true: every registered
// route is in it, and the API tests validate real answers against it.
//
//go:embed openapi.yaml
var OpenAPIDocument []byte

// openAPI serves OpenAPIDocument.
func openAPI(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=300")
	return c.Blob(http.StatusOK, "application/yaml", OpenAPIDocument)
}
