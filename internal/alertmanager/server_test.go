package alertmanager

import (
	"net"
	"net/http"
	"testing"

	. "github.com/onsi/gomega"
)

func TestServerOptions(t *testing.T) {
	g := NewWithT(t)
	g.Expect(ServerOptions{}.Enabled()).To(BeFalse())
	g.Expect(ServerOptions{BindAddress: "0"}.Enabled()).To(BeFalse())
	g.Expect(ServerOptions{BindAddress: ":9443"}.Enabled()).To(BeTrue())

	// Off: nothing is added, so the manager is not even needed.
	srv, err := AddToManager(nil, ServerOptions{BindAddress: "0"}, Options{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(srv).To(BeNil())
}

func TestNewServerErrors(t *testing.T) {
	g := NewWithT(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	_, err = NewServer(ServerOptions{BindAddress: l.Addr().String()}, http.NotFoundHandler())
	g.Expect(err).To(MatchError(ContainSubstring("the Alertmanager receiver cannot listen on " + l.Addr().String())))

	_, err = NewServer(ServerOptions{BindAddress: "127.0.0.1:0", CertDir: t.TempDir(), CertName: "tls.crt", KeyName: "tls.key"},
		http.NotFoundHandler())
	g.Expect(err).To(MatchError(ContainSubstring("loading the receiver's certificate")))
}
