package alertmanager

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// TestReceiverWithAPIServer runs the receiver in a manager against a real API server (CRDs,
// defaulting and validation included), over TLS: a group is created, a repeat writes nothing,
// resolved edits the same object, and with the API server gone the answer is 503.
func TestReceiverWithAPIServer(t *testing.T) {
	g := NewWithT(t)
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test`, or set it to the directory with kube-apiserver and etcd")
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	g.Expect(err).NotTo(HaveOccurred())
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = env.Stop()
		}
	})
	scheme := testScheme(t)
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &teamsv1alpha1.ConversationTarget{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "oncall"},
		Spec: teamsv1alpha1.ConversationTargetSpec{
			Conversation: &teamsv1alpha1.KnownConversation{ID: "19:oncall@thread.v2"}},
	})).To(Succeed())
	g.Expect(k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "am-token"},
		StringData: map[string]string{TokenKey: testToken},
	})).To(Succeed())

	certDir := t.TempDir()
	pool := writeSelfSigned(t, certDir)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	g.Expect(err).NotTo(HaveOccurred())
	srv, err := AddToManager(mgr,
		ServerOptions{BindAddress: "127.0.0.1:0", CertDir: certDir, CertName: "tls.crt", KeyName: "tls.key"},
		// Metadata uncached: with a Secret informer watching, the API server stopped below does not
		// stop within envtest's timeout. The cached path is the default (AddToManager), with its own test.
		Options{TokenSecret: "am-token", ResolvedTTL: time.Hour, Timeout: 3 * time.Second, Metadata: mgr.GetAPIReader()})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(srv.NeedLeaderElection()).To(BeFalse(), "every replica behind the Service must answer")
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(ctx) }()

	httpc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	url := "https://" + srv.Addr() + targetPath
	post := func(p *Payload, token string) (int, response) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(mustJSON(t, p)))
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := httpc.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		defer func() { _ = resp.Body.Close() }()
		var r response
		g.Expect(json.NewDecoder(resp.Body).Decode(&r)).To(Succeed())
		return resp.StatusCode, r
	}
	name := Name(samplePayload(StatusFiring, 1).GroupKey, "oncall")
	get := func() *teamsv1alpha1.ProactiveMessage {
		pm := &teamsv1alpha1.ProactiveMessage{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: testNS, Name: name}, pm)).To(Succeed())
		return pm
	}

	// The server answers once the manager has started it.
	g.Eventually(func() error {
		_, err := httpc.Get("https://" + srv.Addr() + "/") //nolint:noctx // a probe
		return err
	}).WithTimeout(30 * time.Second).Should(Succeed())

	code, r := post(samplePayload(StatusFiring, 2), "wrong")
	g.Expect(code).To(Equal(http.StatusUnauthorized))
	g.Expect(r.Reason).To(Equal(ReasonUnauthorized))

	code, r = post(samplePayload(StatusFiring, 2), testToken)
	g.Expect(code).To(Equal(http.StatusOK), "%+v", r)
	g.Expect(r).To(Equal(response{Result: ResultCreated, Name: name}))
	created := get()
	g.Expect(created.Spec.OnUpdate).To(Equal(teamsv1alpha1.OnUpdateEdit))
	g.Expect(created.Spec.DeliveryGuarantee).To(Equal(teamsv1alpha1.AtMostOnce), "the API server's defaults apply")
	g.Expect(created.Spec.AdaptiveCard.Version).To(Equal("1.5"))
	g.Expect(cardText(t, created.Spec.AdaptiveCard)).To(ContainSubstring("FIRING:2 HighLatency"))

	// A repeat (Alertmanager's repeat_interval) with the same content writes nothing, even though
	// the API server re-encoded the card (key order, escaping) and defaulted the spec.
	code, r = post(samplePayload(StatusFiring, 2), testToken)
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(r.Result).To(Equal(ResultUnchanged))
	g.Expect(get().ResourceVersion).To(Equal(created.ResourceVersion))

	code, r = post(samplePayload(StatusResolved, 2), testToken)
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(r.Result).To(Equal(ResultUpdated))
	resolved := get()
	g.Expect(resolved.UID).To(Equal(created.UID), "resolved edits the same object, so the same Teams message")
	g.Expect(resolved.Generation).To(Equal(created.Generation + 1))
	g.Expect(resolved.Labels).To(HaveKeyWithValue(StatusLabel, StatusResolved))
	g.Expect(resolved.Spec.Summary).To(Equal("[RESOLVED:2] HighLatency"))
	g.Expect(resolved.Spec.TTLAfterFinished.Duration).To(Equal(time.Hour))
	g.Expect(cardText(t, resolved.Spec.AdaptiveCard)).To(ContainSubstring("RESOLVED:2 HighLatency"))

	code, r = post(samplePayload(StatusResolved, 2), testToken)
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(r.Result).To(Equal(ResultUnchanged))
	g.Expect(get().ResourceVersion).To(Equal(resolved.ResourceVersion))

	// A namespace user's own object holding a group's name, even dressed as the receiver's, is
	// neither overwritten nor deleted (issue 14): the API server's managedFields show who made it.
	squatted := samplePayload(StatusFiring, 1)
	squatted.GroupKey = `{}:{alertname="Squatted"}`
	g.Expect(k8s.Create(ctx, &teamsv1alpha1.ProactiveMessage{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: Name(squatted.GroupKey, "oncall"),
			Labels:      map[string]string{ManagedByLabel: ManagedByValue, StatusLabel: StatusFiring},
			Annotations: map[string]string{GroupKeyAnnotation: squatted.GroupKey}},
		Spec: teamsv1alpha1.ProactiveMessageSpec{TargetRef: teamsv1alpha1.LocalObjectReference{Name: "oncall"}, Text: "mine"},
	}, client.FieldOwner("someone"))).To(Succeed())
	code, r = post(squatted, testToken)
	g.Expect(code).To(Equal(http.StatusConflict), "%+v", r)
	g.Expect(r.Reason).To(Equal(ReasonConflict))
	mine := &teamsv1alpha1.ProactiveMessage{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: testNS, Name: Name(squatted.GroupKey, "oncall")}, mine)).To(Succeed())
	g.Expect(mine.Spec.Text).To(Equal("mine"))

	// No API server: Alertmanager is told to retry.
	g.Expect(env.ControlPlane.APIServer.Stop()).To(Succeed())
	code, r = post(samplePayload(StatusFiring, 3), testToken)
	g.Expect(code).To(Equal(http.StatusServiceUnavailable))
	g.Expect(r.Reason).To(Equal(ReasonUnavailable))

	// The manager stops the receiver with it.
	cancel()
	g.Eventually(mgrDone).WithTimeout(30 * time.Second).Should(Receive())
	_, err = net.DialTimeout("tcp", srv.Addr(), time.Second)
	g.Expect(err).To(HaveOccurred(), "the receiver still listens after the manager stopped")
	stopped = true
	_ = env.Stop() // the API server is already stopped; this stops etcd
}

// writeSelfSigned writes tls.crt and tls.key for 127.0.0.1 into dir and returns a pool trusting it.
func writeSelfSigned(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "alertmanager-receiver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), crt, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(crt)
	return pool
}
