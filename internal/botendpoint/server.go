// Package botendpoint is the bot's messaging endpoint: the HTTPS /api/messages receiver the
// Azure Bot resource points at. It authenticates every request as Microsoft documents for the
// Bot Connector (auth.go), acts on each activity once (dedupe.go), and routes it to the handlers
// registered by activity type or invoke name (registry.go). It runs on every replica.
package botendpoint

import (
	"errors"
	"net/http"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/httpserver"
)

// ServerOptions say where the endpoint listens (see httpserver.Options); the endpoint is off
// unless BindAddress is set.
type ServerOptions = httpserver.Options

// Options configure the endpoint in the manager.
type Options struct {
	Server ServerOptions
	// MetadataURL and Issuer are the cloud's Bot Connector OpenID metadata URL (or
	// --bot-openid-metadata-url) and token issuer.
	MetadataURL, Issuer string
	// HTTPClient fetches the OpenID metadata and keys (the shared transport).
	HTTPClient *http.Client
	// Policy is the service URL policy of the Connector client.
	Policy *botframework.ServiceURLPolicy
	// Directory matches activities to objects and their credentials.
	Directory *Directory
	// Registry routes activities; handlers are added before the manager starts.
	Registry *Registry
}

// AddToManager adds the endpoint to mgr on every replica. It returns nil when the endpoint is off.
func AddToManager(mgr ctrl.Manager, o Options) (*httpserver.Server, error) {
	if !o.Server.Enabled() {
		return nil, nil
	}
	if o.Registry == nil || o.Directory == nil {
		return nil, errors.New("bot endpoint: Registry and Directory are required")
	}
	v, err := NewVerifier(VerifierOptions{
		MetadataURL: o.MetadataURL, Issuer: o.Issuer, HTTPClient: o.HTTPClient, Policy: o.Policy,
		Bots: o.Directory,
	})
	if err != nil {
		return nil, err
	}
	h := NewHandler(HandlerOptions{Auth: v, Registry: o.Registry, Log: ctrl.Log.WithName("bot-endpoint")})
	srv, err := httpserver.New("bot-endpoint", "the bot endpoint", o.Server, h)
	if err != nil {
		return nil, err
	}
	if err := srv.AddToManager(mgr); err != nil {
		return nil, err
	}
	return srv, nil
}
