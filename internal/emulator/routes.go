//nolint:goconst // JSON field names and Microsoft values read better inline than as constants.
package emulator

import (
	"fmt"
	"net/http"
	"strings"
)

func (e *Emulator) routes() {
	e.handle("POST /{tenant}/oauth2/v2.0/token", apiEntra, op("token"), e.handleToken)
	e.handle("GET /{tenant}/v2.0/.well-known/openid-configuration", apiEntra, op("openidConfiguration"), e.handleOpenIDConfig)
	e.handle("GET /{tenant}/discovery/v2.0/keys", apiEntra, op("keys"), e.handleJWKS)
	e.handle("GET /common/discovery/instance", apiEntra, op("instanceDiscovery"), e.handleInstanceDiscovery)
	e.graphRoutes()
	e.connectorRoutes()
	e.audienceRoutes()
	e.memberGroupRoutes()
	e.controlRoutes()
	e.botAuthRoutes()
	e.userActRoutes()
	e.viewerRoutes()
	e.mux.HandleFunc("/", e.notFoundRoute)
}

// notFoundRoute answers paths the emulator does not serve, in the shape of the API the path
// belongs to.
func (e *Emulator) notFoundRoute(w http.ResponseWriter, r *http.Request) {
	info := infoFrom(r)
	info.api = apiForPath(r.URL.Path)
	info.op = "unknown"
	e.setIDHeaders(w, r, info)
	msg := fmt.Sprintf("The emulator does not serve %s %s.", r.Method, r.URL.EscapedPath())
	if strings.Contains(r.URL.EscapedPath(), "//") {
		msg += " The path has an empty segment: check how the base URL and the path were joined."
	}
	switch info.api {
	case apiGraph:
		e.graphError(w, r, http.StatusBadRequest, "BadRequest", "Resource not found for the segment. "+msg, nil)
	case apiBot:
		botError(w, http.StatusNotFound, "NotFound", msg)
	case apiEntra:
		e.entraError(w, r, http.StatusNotFound, "invalid_request", 0, msg)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": msg})
	}
}
