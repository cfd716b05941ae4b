package operator

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/botendpoint"
	"github.com/teams-operator/teams-operator/internal/cloud"
	"github.com/teams-operator/teams-operator/internal/emulator"
)

// The package's tests run the operator as it ships (Setup) against a real API server (envtest)
// and the emulator over TLS, with the bot endpoint on over TLS too.

var (
	restCfg *rest.Config
	scheme  = runtime.NewScheme()
)

const sharedLabel = "teams.operator.dev/shared-credentials"

func TestMain(m *testing.M) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run `make test`, or set it to the directory with kube-apiserver and etcd")
		os.Exit(1)
	}
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if err := teamsv1alpha1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		panic(err)
	}
	restCfg = cfg
	if os.Getenv("TEST_LOG") != "" {
		ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// world is one running operator with its emulator.
type world struct {
	k8s    client.Client
	emu    *emulator.Emulator
	emuSrv *emulator.Server
	ctx    context.Context
	// stop stops the manager (idempotent).
	stop func()
}

// startOperator starts the emulator and a manager running Setup with the bot endpoint, and points
// the emulator's users at the endpoint. change adjusts the options. The polls are an hour apart,
// so whatever happens at once is the bot endpoint's doing.
func startOperator(t *testing.T, change func(*Options)) *world {
	t.Helper()
	emu, err := emulator.New(nil, emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	emuSrv, err := emu.StartTLS("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emuSrv.Close() })
	return startManager(t, emu, emuSrv, change)
}

// startManager starts a manager against an emulator that is already running (a restart).
// The manager stops when stop is called, or at the end of the test.
func startManager(t *testing.T, emu *emulator.Emulator, emuSrv *emulator.Server, change func(*Options)) *world {
	t.Helper()
	endpoints, err := cloud.Lookup(cloud.Public)
	if err != nil {
		t.Fatal(err)
	}
	if endpoints, err = endpoints.WithOverrides(emuSrv.URL+"/", emuSrv.URL, emuSrv.URL+"/teams/"); err != nil {
		t.Fatal(err)
	}
	if endpoints, err = endpoints.WithBotOpenIDMetadata(emuSrv.URL + emulator.BotOpenIDMetadataPath); err != nil {
		t.Fatal(err)
	}
	certDir := t.TempDir()
	pool := writeSelfSigned(t, certDir)
	addr := freeAddr(t)
	opts := Options{
		Endpoints:             endpoints,
		ExtraRootCAs:          emuSrv.RootCAs,
		InstallationInterval:  time.Hour,
		TargetRecheckInterval: time.Hour,
		SharedCredentials:     labels.SelectorFromSet(labels.Set{sharedLabel: "true"}),
		BotEndpoint:           botendpoint.ServerOptions{BindAddress: addr, CertDir: certDir, CertName: "tls.crt", KeyName: "tls.key"},
	}
	if change != nil {
		change(&opts)
	}
	k8s, err := client.New(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	skip := true
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme: scheme, Cache: CacheOptions(opts), Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Controller: config.Controller{SkipNameValidation: &skip},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := Setup(mgr, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Error(err)
		}
	}()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	emu.SetBotEndpoint(emulator.BotEndpoint{URL: "https://" + addr + botendpoint.Path, RootCAs: pool,
		ServiceURL: emuSrv.URL + "/teams/"})
	return &world{k8s: k8s, emu: emu, emuSrv: emuSrv, ctx: context.Background(), stop: stop}
}

// namespace creates a namespace whose credentials Secret "bot" holds the given app's secret.
func (w *world) namespace(t *testing.T, appID, secret string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bot-", Labels: map[string]string{sharedLabel: "true"}}}
	if err := w.k8s.Create(w.ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := w.k8s.Create(w.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "bot"},
		StringData: map[string]string{"tenantId": emulator.DefaultTenantID, "clientId": appID, "clientSecret": secret},
	}); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func key(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func writeSelfSigned(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bot-endpoint"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(k)
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
