package httpserver

import (
	"net"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestOptions(t *testing.T) {
	g := NewWithT(t)
	g.Expect(Options{}.Enabled()).To(BeFalse())
	g.Expect(Options{BindAddress: "0"}.Enabled()).To(BeFalse())
	g.Expect(Options{BindAddress: ":9443"}.Enabled()).To(BeTrue())
}

func TestNewErrors(t *testing.T) {
	g := NewWithT(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	_, err = New("x", "the test receiver", Options{BindAddress: l.Addr().String()}, http.NotFoundHandler())
	g.Expect(err).To(MatchError(ContainSubstring("the test receiver cannot listen on " + l.Addr().String())))

	_, err = New("x", "the test receiver", Options{BindAddress: "127.0.0.1:0", CertDir: t.TempDir(), CertName: "tls.crt", KeyName: "tls.key"},
		http.NotFoundHandler())
	g.Expect(err).To(MatchError(ContainSubstring("loading the receiver's certificate")))
}

// TestConnectionCap: connections over the cap wait until one closes.
func TestConnectionCap(t *testing.T) {
	g := NewWithT(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	l := limitListener(ln, 1)
	defer func() { _ = l.Close() }()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		g.Expect(err).NotTo(HaveOccurred())
		defer func() { _ = c.Close() }()
	}
	var first net.Conn
	g.Eventually(accepted).WithTimeout(10 * time.Second).Should(Receive(&first))
	g.Consistently(accepted).WithTimeout(300 * time.Millisecond).ShouldNot(Receive())
	g.Expect(first.Close()).To(Succeed())
	g.Eventually(accepted).WithTimeout(10 * time.Second).Should(Receive())
}
