package harness

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// apiServerStartTimeout bounds a restart of kube-apiserver: on a loaded CI machine it can take
// longer than envtest's default of 20 seconds.
const apiServerStartTimeout = 2 * time.Minute

// StopAPIServer stops kube-apiserver with SIGTERM, as a rolling update of the control plane
// does; etcd keeps running with every object. envtest kills the process when it is still
// shutting down after its StopTimeout (20 seconds), which a loaded machine can need: it closed
// its port at the start of the shutdown, so that is no error here.
func (e *Env) StopAPIServer() error {
	if e.ControlPlane == nil || e.ControlPlane.ControlPlane.APIServer == nil {
		return errors.New("harness: no control plane")
	}
	err := e.ControlPlane.ControlPlane.APIServer.Stop()
	if err != nil && !strings.HasPrefix(err.Error(), "timeout waiting for process") {
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	return nil
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, on the same etcd and port with
// the same serving certificate and client CA (envtest keeps them in the API server's CertDir and
// its authenticator), so the kubeconfig, Config and Client keep working unchanged.
func (e *Env) StartAPIServer() error {
	if e.ControlPlane == nil || e.ControlPlane.ControlPlane.APIServer == nil {
		return errors.New("harness: no control plane")
	}
	s := e.ControlPlane.ControlPlane.APIServer
	s.StartTimeout = max(s.StartTimeout, apiServerStartTimeout)
	if err := s.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	return nil
}
