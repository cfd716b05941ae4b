package amapi

import (
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/teams-operator/teams-operator/test/harness"
)

// TestSilenceLifecycleWithRealAlertmanager creates, reads and expires a silence in Debian's
// prometheus-alertmanager served over TLS with its own CA, as a namespace would configure it.
func TestSilenceLifecycleWithRealAlertmanager(t *testing.T) {
	g := NewWithT(t)
	base, caPEM := startAlertmanager(t)
	c, err := New(Options{BaseURL: base, CAPEM: caPEM})
	g.Expect(err).NotTo(HaveOccurred())
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	start := time.Now().UTC().Truncate(time.Second)
	id, err := c.CreateSilence(ctx, Silence{
		Matchers: []Matcher{{Name: "alertname", Value: "HighLatency", IsEqual: true}, {Name: "cluster", Value: "eu-1", IsEqual: true}},
		StartsAt: start, EndsAt: start.Add(time.Hour),
		CreatedBy: "Ada Lovelace (00000000-0000-0000-0000-00000000000a)", Comment: "from Teams",
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(id).NotTo(BeEmpty())

	s, err := c.GetSilence(ctx, id)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.ID).To(Equal(id))
	g.Expect(s.Status.State).To(Equal(StateActive))
	g.Expect(s.CreatedBy).To(Equal("Ada Lovelace (00000000-0000-0000-0000-00000000000a)"))
	g.Expect(s.Matchers).To(ConsistOf(
		Matcher{Name: "alertname", Value: "HighLatency", IsEqual: true},
		Matcher{Name: "cluster", Value: "eu-1", IsEqual: true}))
	g.Expect(s.EndsAt).To(BeTemporally("~", start.Add(time.Hour), time.Second))

	g.Expect(c.ExpireSilence(ctx, id)).To(Succeed())
	s, err = c.GetSilence(ctx, id)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.Status.State).To(Equal(StateExpired))
	// Expiring again, or a silence Alertmanager does not know, is what the caller wanted.
	g.Expect(c.ExpireSilence(ctx, id)).To(Succeed())
	g.Expect(c.ExpireSilence(ctx, "00000000-0000-0000-0000-000000000000")).To(Succeed())

	_, err = c.GetSilence(ctx, "00000000-0000-0000-0000-000000000000")
	g.Expect(IsNotFound(err)).To(BeTrue(), "%v", err)

	// Alertmanager refuses a silence without matchers: a refusal, not an outage.
	_, err = c.CreateSilence(ctx, Silence{StartsAt: start, EndsAt: start.Add(time.Hour), CreatedBy: "x", Comment: "x"})
	g.Expect(err).To(HaveOccurred())
	g.Expect(IsUnavailable(err)).To(BeFalse(), "%v", err)

	// Without the CA, the system pool does not trust Alertmanager's certificate.
	plain, err := New(Options{BaseURL: base})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = plain.GetSilence(ctx, id)
	g.Expect(err).To(MatchError(ContainSubstring("certificate")))
}

func TestCredentialsAndTimeouts(t *testing.T) {
	g := NewWithT(t)
	var auth atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"silenceID":"abc"}`))
	}))
	defer srv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	base, _ := url.Parse(srv.URL + "/prefix/")
	ctx := context.Background()

	c, err := New(Options{BaseURL: base, CAPEM: caPEM, BearerToken: "s3cret"})
	g.Expect(err).NotTo(HaveOccurred())
	id, err := c.CreateSilence(ctx, Silence{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(id).To(Equal("abc"))
	g.Expect(auth.Load()).To(Equal("Bearer s3cret"))

	c, err = New(Options{BaseURL: base, CAPEM: caPEM, Username: "am", Password: "pw"})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = c.CreateSilence(ctx, Silence{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(auth.Load()).To(Equal("Basic YW06cHc="))

	_, err = New(Options{BaseURL: base, CAPEM: []byte("not pem")})
	g.Expect(err).To(MatchError(ContainSubstring("no PEM certificate")))
}

func TestNoRedirectsAndNoHang(t *testing.T) {
	g := NewWithT(t)
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v2/silences":
			http.Redirect(w, r, other.URL+"/api/v2/silences", http.StatusTemporaryRedirect)
		default: // a hung Alertmanager: answers only when the test ends
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	defer srv.Close()
	defer close(release)
	base, _ := url.Parse(srv.URL)
	c, err := New(Options{BaseURL: base, BearerToken: "s3cret", Timeout: 300 * time.Millisecond})
	g.Expect(err).NotTo(HaveOccurred())

	_, err = c.CreateSilence(context.Background(), Silence{})
	g.Expect(err).To(MatchError(ContainSubstring("redirect")))
	g.Expect(IsUnavailable(err)).To(BeFalse())
	g.Expect(elsewhere.Load()).To(BeZero(), "the redirect was followed")

	began := time.Now()
	_, err = c.GetSilence(context.Background(), "x")
	g.Expect(IsUnavailable(err)).To(BeTrue(), "%v", err)
	g.Expect(err).To(MatchError(ContainSubstring("no answer in time")))
	g.Expect(time.Since(began)).To(BeNumerically("<", 5*time.Second))
	g.Expect(err.Error()).NotTo(ContainSubstring("s3cret"))
}

func TestDownIsUnavailable(t *testing.T) {
	g := NewWithT(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	g.Expect(l.Close()).To(Succeed())
	c, err := New(Options{BaseURL: &url.URL{Scheme: "http", Host: addr}})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = c.CreateSilence(context.Background(), Silence{})
	g.Expect(IsUnavailable(err)).To(BeTrue(), "%v", err)
	g.Expect(c.ExpireSilence(context.Background(), "x")).To(Satisfy(IsUnavailable))
}

// startAlertmanager runs prometheus-alertmanager on loopback with TLS from a fresh CA.
func startAlertmanager(t *testing.T) (*url.URL, []byte) {
	t.Helper()
	am, err := harness.StartAlertmanager(t.TempDir(), "route:\n  receiver: none\nreceivers:\n  - name: none\n")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = am.Stop(10 * time.Second)
		if t.Failed() {
			b, _ := os.ReadFile(am.Log)
			t.Logf("alertmanager log:\n%s", b)
		}
	})
	u, err := url.Parse(am.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u, am.CAPEM
}
