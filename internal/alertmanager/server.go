package alertmanager

import (
	"net/http"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/teams-operator/teams-operator/internal/httpserver"
)

// ServerOptions say where the receiver listens (see httpserver.Options).
type ServerOptions = httpserver.Options

// DefaultMaxConnections is far above what an Alertmanager cluster opens.
const DefaultMaxConnections = httpserver.DefaultMaxConnections

// Server is the receiver's listener and HTTP server.
type Server = httpserver.Server

// AddToManager adds the receiver to mgr as a server on every replica (no leader election: the
// Service sends each notification to any replica, and all of them must answer). It returns nil
// when so turns the receiver off.
func AddToManager(mgr ctrl.Manager, so ServerOptions, o Options) (*Server, error) {
	if !so.Enabled() {
		return nil, nil
	}
	if o.Reader == nil {
		o.Reader = mgr.GetAPIReader()
	}
	if o.Writer == nil {
		o.Writer = mgr.GetClient()
	}
	if o.Metadata == nil {
		o.Metadata = mgr.GetClient() // Secret metadata from the cache; see Options.Metadata
	}
	if o.Recorder == nil {
		o.Recorder = mgr.GetEventRecorder("alertmanager-receiver")
	}
	srv, err := NewServer(so, NewHandler(o))
	if err != nil {
		return nil, err
	}
	if err := srv.AddToManager(mgr); err != nil {
		return nil, err
	}
	return srv, nil
}

// NewServer listens on so.BindAddress at once, so a port in use fails the manager's start.
func NewServer(so ServerOptions, h http.Handler) (*Server, error) {
	return httpserver.New("alertmanager-receiver", "the Alertmanager receiver", so, h)
}
