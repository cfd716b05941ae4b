package controller_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/cloud"
	"github.com/teams-operator/teams-operator/internal/controller"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/internal/operator"
)

// The suite runs the real manager, set up by operator.Setup exactly as cmd/main.go does,
// against a real kube-apiserver (envtest) and the Teams emulator over TLS.

const (
	// operatorNamespace holds the manager's default credentials Secret.
	operatorNamespace = "teams-operator-system"
	defaultSecretName = "teams-credentials"
)

var (
	ctx       context.Context
	cancel    context.CancelFunc
	testEnv   *envtest.Environment
	k8sClient client.Client
	// mgrCache is the manager's cache: what the operator holds in memory.
	mgrCache  cache.Cache
	emu       *emulator.Emulator
	emuServer *emulator.Server
	writes    = &writeCounter{counts: map[string]int{}}
	// managerStopped is closed when the manager started by BeforeSuite returns.
	managerStopped chan struct{}
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controller suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.TODO())
	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(),
		"KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds the control plane")

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())

	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(teamsv1alpha1.AddToScheme(scheme)).To(Succeed())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	emu, err = emulator.New(emulator.DefaultSeed(), emulator.Options{})
	Expect(err).NotTo(HaveOccurred())
	emuServer, err = emu.StartTLS("127.0.0.1:0", GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred())

	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})).To(Succeed())
	createCredentials(operatorNamespace, defaultSecretName)

	startManager(cfg, scheme)
})

var _ = AfterSuite(func() {
	cancel()
	// Stop the manager before the emulator: a reconcile still talking to the emulator would
	// otherwise hold a connection open past the emulator's shutdown deadline.
	if managerStopped != nil {
		Eventually(managerStopped, time.Minute).Should(BeClosed())
	}
	if emuServer != nil {
		Expect(emuServer.Close()).To(Succeed())
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// startManager runs the manager with a client that counts its writes to our kinds.
func startManager(cfg *rest.Config, scheme *runtime.Scheme) {
	endpoints, err := cloud.Lookup(cloud.Public)
	Expect(err).NotTo(HaveOccurred())
	endpoints, err = endpoints.WithOverrides(emuServer.URL+"/", emuServer.URL, emuServer.URL+"/teams/")
	Expect(err).NotTo(HaveOccurred())
	mgrCfg := rest.CopyConfig(cfg)
	mgrCfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &countingTransport{next: rt, counter: writes} })
	skip := true
	opts := operator.Options{
		Endpoints:            endpoints,
		DefaultCredentials:   types.NamespacedName{Namespace: operatorNamespace, Name: defaultSecretName},
		ExtraRootCAs:         emuServer.RootCAs,
		InstallationInterval: 3 * time.Second,
		// A target waiting for its bot looks again soon, so tests of installs made outside
		// the cluster do not wait the production 30s.
		TargetRecheckInterval: 2 * time.Second,
		// As shipped: only labelled namespaces (newNamespace labels its own) may use the defaults.
		SharedCredentials: labels.SelectorFromSet(labels.Set{sharedCredentialsLabel: "true"}),
		// Small broadcast batches and reconciles, so the broadcast specs cross both.
		Broadcast: controller.BroadcastOptions{Batch: 20, Budget: 2 * time.Second},
		// The opt-out record in the manager's namespace; no namespace may override it.
		OptOut: operator.OptOutOptions{Namespace: operatorNamespace},
		// A persistent key, as --annotation-key-file gives: specs sign restored ids with it.
		DeliveryProofKey: suiteProofKey,
	}
	mgr, err := ctrl.NewManager(mgrCfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  operator.CacheOptions(opts),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: &skip},
	})
	Expect(err).NotTo(HaveOccurred())
	mgrCache = mgr.GetCache()
	Expect(operator.Setup(mgr, opts)).To(Succeed())

	managerStopped = make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(managerStopped)
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
}

// createCredentials creates a Secret with the emulator's bot credentials.
func createCredentials(namespace, name string) *corev1.Secret {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		StringData: map[string]string{
			"tenantId":     emulator.DefaultTenantID,
			"clientId":     emulator.DefaultBotAppID,
			"clientSecret": emulator.DefaultBotSecret,
		},
	}
	Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	return secret
}

// sharedCredentialsLabel marks the namespaces that may use the manager's default credentials.
const sharedCredentialsLabel = "teams.operator.dev/shared-credentials"

// newNamespace creates a namespace for one test.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-",
		Labels: map[string]string{sharedCredentialsLabel: "true"}}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// writeCounter counts the manager's write requests (POST, PUT, PATCH, DELETE) per API path.
type writeCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (w *writeCounter) add(path string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.counts[path]++
}

// For returns how many writes the manager made to one object (including its status).
func (w *writeCounter) For(resource, namespace, name string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	prefix := "/apis/teams.operator.dev/v1alpha1/namespaces/" + namespace + "/" + resource + "/" + name
	n := 0
	for path, c := range w.counts {
		if path == prefix || strings.HasPrefix(path, prefix+"/") {
			n += c
		}
	}
	return n
}

type countingTransport struct {
	next    http.RoundTripper
	counter *writeCounter
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		t.counter.add(req.URL.Path)
	}
	return t.next.RoundTrip(req)
}
