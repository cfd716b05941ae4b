package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

const (
	testNS    = "alerts"
	testToken = "s3cret-token-value"
)

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(s), teamsv1alpha1.AddToScheme(s)); err != nil {
		t.Fatal(err)
	}
	return s
}

// fixture is the receiver over a fake client holding a target, the token Secret and a
// template ConfigMap; writes counts the writes that reach the client.
type fixture struct {
	client   client.WithWatch
	recorder *events.FakeRecorder
	handler  http.Handler
	writes   atomic.Int32
	// fail, when set, answers every call instead of the fake client; with failAfterAuth, only
	// the calls after authentication (not the token Secret's).
	fail          atomic.Pointer[error]
	failAfterAuth bool
	// secretReads counts reads of a Secret's data.
	secretReads atomic.Int32
}

func newFixture(t *testing.T, extra ...client.Object) *fixture {
	t.Helper()
	f := &fixture{}
	objs := append([]client.Object{
		&teamsv1alpha1.ConversationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "oncall"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: DefaultTokenSecret},
			Data: map[string][]byte{TokenKey: []byte(testToken + "\n")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "my-card"},
			Data: map[string]string{TemplateKey: customTemplate}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "broken-card"},
			Data: map[string]string{TemplateKey: `{{ .Nope }`}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "no-key"}},
	}, extra...)
	failing := func() error {
		if e := f.fail.Load(); e != nil {
			return *e
		}
		return nil
	}
	f.client = interceptor.NewClient(fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).Build(),
		interceptor.Funcs{
			Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				_, secret := obj.(*corev1.Secret)
				_, meta := obj.(*metav1.PartialObjectMetadata)
				if secret {
					f.secretReads.Add(1)
				}
				if err := failing(); err != nil && (!f.failAfterAuth || (!secret && !meta)) {
					return err
				}
				return c.Get(ctx, key, obj, opts...)
			},
			Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				// The fake client sets no uid; the API server would, and the tests tell objects apart by it.
				obj.SetUID(types.UID(fmt.Sprintf("uid-%d", f.writes.Add(1))))
				return c.Create(ctx, obj, opts...)
			},
			Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				f.writes.Add(1)
				return c.Update(ctx, obj, opts...)
			},
			Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
				f.writes.Add(1)
				return c.Delete(ctx, obj, opts...)
			},
		})
	f.recorder = events.NewFakeRecorder(10)
	f.handler = NewHandler(Options{Reader: f.client, Writer: f.client, ResolvedTTL: time.Hour, MaxBodyBytes: 64 << 10,
		RatePerSecond: 1e6, // the caps have their own test
		Recorder:      f.recorder})
	return f
}

type reply struct {
	code int
	body response
}

func (f *fixture) post(t *testing.T, path, token string, body []byte) reply {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	var r response
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
			t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body.String())
		}
	}
	return reply{code: rec.Code, body: r}
}

const targetPath = "/alertmanager/v1/namespaces/alerts/targets/oncall"

func TestHandlerRefusals(t *testing.T) {
	firing := mustJSON(t, samplePayload(StatusFiring, 1))
	unavailable := error(&apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusServiceUnavailable, Reason: metav1.StatusReasonServiceUnavailable}})
	tests := map[string]struct {
		path, token string
		body        []byte
		fail        error
		extra       []client.Object
		afterAuth   bool
		wantCode    int
		wantReason  string
		wantMessage string
		bare        bool // no message at all
	}{
		"no token":           {token: "", wantCode: 401, wantReason: ReasonUnauthorized, wantMessage: "a valid bearer token is required"},
		"wrong token":        {token: "guess", wantCode: 401, wantReason: ReasonUnauthorized},
		"token of a prefix":  {token: testToken[:5], wantCode: 401, wantReason: ReasonUnauthorized},
		"no Secret there":    {path: "/alertmanager/v1/namespaces/other/targets/oncall", wantCode: 401, wantReason: ReasonUnauthorized},
		"bad namespace name": {path: "/alertmanager/v1/namespaces/Not_Valid/targets/oncall", wantCode: 401, wantReason: ReasonUnauthorized},
		"bad target name":    {path: "/alertmanager/v1/namespaces/alerts/targets/UPPER", wantCode: 400, wantReason: ReasonBadPath},
		"malformed JSON":     {body: []byte(`{"version":`), wantCode: 400, wantReason: ReasonMalformed, wantMessage: "malformed JSON"},
		"wrong version":      {body: bytes.Replace(firing, []byte(`"version":"4"`), []byte(`"version":"2"`), 1), wantCode: 400, wantReason: ReasonMalformed, wantMessage: `version must be "4"`},
		"body too large":     {body: append(firing, bytes.Repeat([]byte(" "), 64<<10)...), wantCode: 413, wantReason: ReasonTooLarge, wantMessage: "larger than 65536 bytes"},
		"no such target":     {path: "/alertmanager/v1/namespaces/alerts/targets/nobody", wantCode: 404, wantReason: ReasonTargetNotFound, wantMessage: "ConversationTarget alerts/nobody not found"},
		"no template":        {path: targetPath + "?template=missing", wantCode: 422, wantReason: ReasonTemplate, wantMessage: "template ConfigMap alerts/missing not found"},
		"bad template name":  {path: targetPath + "?template=../x", wantCode: 400, wantReason: ReasonBadPath},
		// Before authentication: a bare 503 (no API server text), or 401.
		"API server down before authentication": {
			fail:     &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED},
			wantCode: 503, wantReason: ReasonUnavailable, bare: true,
		},
		"API server 503 before authentication":  {fail: unavailable, wantCode: 503, wantReason: ReasonUnavailable, bare: true},
		"API server slow before authentication": {fail: context.DeadlineExceeded, wantCode: 503, wantReason: ReasonUnavailable, bare: true},
		"token Secret not readable": {
			fail:     apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, DefaultTokenSecret, errors.New("RBAC")),
			wantCode: 401, wantReason: ReasonUnauthorized,
		},
		"API server down": {
			fail: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, afterAuth: true,
			wantCode: 503, wantReason: ReasonUnavailable, wantMessage: "the Kubernetes API server is unavailable",
		},
		"no permission": {
			fail:      apierrors.NewForbidden(schema.GroupResource{Resource: "conversationtargets"}, "oncall", errors.New("RBAC")),
			afterAuth: true, wantCode: 500, wantReason: ReasonInternal, wantMessage: "check its RBAC",
		},
		"name held by someone else's object": {
			extra: []client.Object{&teamsv1alpha1.ProactiveMessage{ObjectMeta: metav1.ObjectMeta{
				Namespace: testNS, Name: Name(samplePayload(StatusFiring, 1).GroupKey, "oncall")}}},
			wantCode: 409, wantReason: ReasonConflict, wantMessage: "was not created by the receiver for this alert group",
		},
		"being deleted": {
			extra: []client.Object{&teamsv1alpha1.ProactiveMessage{ObjectMeta: metav1.ObjectMeta{
				Namespace: testNS, Name: Name(samplePayload(StatusFiring, 1).GroupKey, "oncall"),
				DeletionTimestamp: &metav1.Time{Time: time.Now()}, Finalizers: []string{teamsv1alpha1.Finalizer}}}},
			wantCode: 503, wantReason: ReasonUnavailable, wantMessage: "is being deleted; retry",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t, tc.extra...)
			if tc.fail != nil {
				f.fail.Store(&tc.fail)
				f.failAfterAuth = tc.afterAuth
			}
			path, token, body := tc.path, tc.token, tc.body
			if path == "" {
				path = targetPath
			}
			if token == "" && name != "no token" {
				token = testToken
			}
			if body == nil {
				body = firing
			}
			before := testutil.ToFloat64(rejectedTotal.WithLabelValues(tc.wantReason))
			r := f.post(t, path, token, body)
			g.Expect(r.code).To(Equal(tc.wantCode))
			g.Expect(r.body.Result).To(Equal(ResultRejected))
			g.Expect(r.body.Reason).To(Equal(tc.wantReason))
			g.Expect(r.body.Message).To(ContainSubstring(tc.wantMessage))
			if tc.bare {
				g.Expect(r.body.Message).To(BeEmpty(), "nothing of the API server's answer before authentication")
			}
			g.Expect(r.body.Message).NotTo(ContainSubstring(testToken))
			g.Expect(f.writes.Load()).To(BeZero())
			g.Expect(testutil.ToFloat64(rejectedTotal.WithLabelValues(tc.wantReason))).To(Equal(before + 1))
			// The target's owners see their configuration errors as events on the target.
			if tc.wantCode == http.StatusUnprocessableEntity {
				g.Expect(f.recorder.Events).To(Receive(And(HavePrefix("Warning "+RejectedReason), ContainSubstring(tc.wantMessage))))
			} else {
				g.Expect(f.recorder.Events).NotTo(Receive())
			}
		})
	}
}

func TestHandlerOnlyPost(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	rec := httptest.NewRecorder()
	// Before authentication every answer is 401 (or a bare 503): no hint of which paths exist.
	f.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, targetPath, nil))
	g.Expect(rec.Code).To(Equal(http.StatusUnauthorized))
	rec = httptest.NewRecorder()
	f.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/alertmanager/v1/targets/oncall", nil))
	g.Expect(rec.Code).To(Equal(http.StatusUnauthorized))
}

// The life of a group: created, repeated (no write), grown (edited), resolved (edited, with a
// TTL), repeated resolved (no write), fired again (a new message).
func TestHandlerGroupLifecycle(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	ctx := context.Background()
	name := Name(samplePayload(StatusFiring, 1).GroupKey, "oncall")
	get := func() *teamsv1alpha1.ProactiveMessage {
		pm := &teamsv1alpha1.ProactiveMessage{}
		g.Expect(f.client.Get(ctx, client.ObjectKey{Namespace: testNS, Name: name}, pm)).To(Succeed())
		return pm
	}
	counter := func(r string) float64 { return testutil.ToFloat64(notificationsTotal.WithLabelValues(r)) }
	step := func(p *Payload, path, wantResult string, wantWrites int32) *teamsv1alpha1.ProactiveMessage {
		before, writes, received := counter(wantResult), f.writes.Load(), testutil.ToFloat64(receivedTotal)
		r := f.post(t, path, testToken, mustJSON(t, p))
		g.Expect(r.code).To(Equal(http.StatusOK), "%+v", r.body)
		g.Expect(r.body).To(Equal(response{Result: wantResult, Name: name}))
		g.Expect(f.writes.Load() - writes).To(Equal(wantWrites))
		g.Expect(counter(wantResult)).To(Equal(before + 1))
		g.Expect(testutil.ToFloat64(receivedTotal)).To(Equal(received + 1))
		return get()
	}

	pm := step(samplePayload(StatusFiring, 1), targetPath, ResultCreated, 1)
	g.Expect(pm.Spec.TargetRef.Name).To(Equal("oncall"))
	g.Expect(pm.Spec.Summary).To(Equal("[FIRING:1] HighLatency"))
	g.Expect(pm.Labels).To(HaveKeyWithValue(StatusLabel, StatusFiring))
	firstUID := pm.UID

	again := step(samplePayload(StatusFiring, 1), targetPath, ResultUnchanged, 0)
	g.Expect(again.ResourceVersion).To(Equal(pm.ResourceVersion))

	grown := step(samplePayload(StatusFiring, 2), targetPath, ResultUpdated, 1)
	g.Expect(grown.Spec.Summary).To(Equal("[FIRING:2] HighLatency"))
	g.Expect(grown.UID).To(Equal(firstUID))

	resolved := step(samplePayload(StatusResolved, 2), targetPath, ResultUpdated, 1)
	g.Expect(resolved.UID).To(Equal(firstUID), "resolved edits the same message")
	g.Expect(resolved.Labels).To(HaveKeyWithValue(StatusLabel, StatusResolved))
	g.Expect(resolved.Spec.TTLAfterFinished.Duration).To(Equal(time.Hour))
	g.Expect(cardText(t, resolved.Spec.AdaptiveCard)).To(ContainSubstring("RESOLVED:2"))

	step(samplePayload(StatusResolved, 2), targetPath, ResultUnchanged, 0)

	refired := step(samplePayload(StatusFiring, 1), targetPath, ResultCreated, 2)
	g.Expect(refired.UID).NotTo(Equal(firstUID), "a group that fires again after it resolved gets a new message")
	g.Expect(refired.Spec.TTLAfterFinished).To(BeNil())

	custom := step(samplePayload(StatusFiring, 1), targetPath+"?template=my-card", ResultUpdated, 1)
	g.Expect(custom.Annotations).To(HaveKeyWithValue(TemplateAnnotation, "my-card"))
	g.Expect(cardText(t, custom.Spec.AdaptiveCard)).To(ContainSubstring("FIRING: HighLatency"))
}

// Another writer (the controller, another replica) between the read and the write is a
// conflict; the receiver reads again and succeeds.
func TestHandlerRetriesConflicts(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	g.Expect(f.post(t, targetPath, testToken, mustJSON(t, samplePayload(StatusFiring, 1))).code).To(Equal(200))
	var conflicts atomic.Int32
	inner := f.client
	f.handler = NewHandler(Options{Reader: inner, Writer: interceptor.NewClient(inner, interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if conflicts.Add(1) == 1 {
				return apierrors.NewConflict(schema.GroupResource{Resource: "proactivemessages"}, obj.GetName(), errors.New("changed"))
			}
			return c.Update(ctx, obj, opts...)
		},
	})})
	r := f.post(t, targetPath, testToken, mustJSON(t, samplePayload(StatusResolved, 1)))
	g.Expect(r.code).To(Equal(200))
	g.Expect(r.body.Result).To(Equal(ResultUpdated))
	g.Expect(conflicts.Load()).To(Equal(int32(2)))
}

func TestHandlerBearerScheme(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	req := httptest.NewRequest(http.MethodPost, targetPath, strings.NewReader(string(mustJSON(t, samplePayload(StatusFiring, 1)))))
	req.Header.Set("Authorization", "bearer "+testToken) // the scheme is case-insensitive (RFC 9110)
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	g.Expect(rec.Code).To(Equal(200))

	req = httptest.NewRequest(http.MethodPost, targetPath, nil)
	req.Header.Set("Authorization", "Basic "+testToken)
	rec = httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	g.Expect(rec.Code).To(Equal(401))
	g.Expect(rec.Header().Get("WWW-Authenticate")).To(HavePrefix("Bearer"))
}

// TestUnauthenticatedRequestsReadNoSecret: a flood of wrong tokens costs no API call per
// request: the token Secret's value is read once, then only when its version changes.
func TestUnauthenticatedRequestsReadNoSecret(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	for range 50 {
		g.Expect(f.post(t, targetPath, "guess", nil).code).To(Equal(http.StatusUnauthorized))
		g.Expect(f.post(t, "/alertmanager/v1/namespaces/nobody/targets/oncall", "guess", nil).code).To(Equal(http.StatusUnauthorized))
	}
	g.Expect(f.secretReads.Load()).To(Equal(int32(1)), "one read of the token's value, then the cached one")

	// A rotated token is read again, once.
	secret := &corev1.Secret{}
	g.Expect(f.client.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: DefaultTokenSecret}, secret)).To(Succeed())
	secret.Data[TokenKey] = []byte("rotated-token")
	g.Expect(f.client.Update(context.Background(), secret)).To(Succeed())
	g.Expect(f.post(t, targetPath, testToken, nil).code).To(Equal(http.StatusUnauthorized))
	g.Expect(f.post(t, targetPath, "rotated-token", mustJSON(t, samplePayload(StatusFiring, 1))).code).To(Equal(http.StatusOK))
	g.Expect(f.secretReads.Load()).To(Equal(int32(3)))
}

// TestRequestCaps: over the rate, or over the requests in flight, the answer is a bare 503.
func TestRequestCaps(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	h := NewHandler(Options{Reader: f.client, Writer: f.client, RatePerSecond: 1}) // a burst of 2
	codes := []int{}
	for range 4 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, targetPath, nil))
		codes = append(codes, rec.Code)
		if rec.Code == http.StatusServiceUnavailable {
			g.Expect(rec.Header().Get("Retry-After")).To(Equal("1"))
			var r response
			g.Expect(json.Unmarshal(rec.Body.Bytes(), &r)).To(Succeed())
			g.Expect(r).To(Equal(response{Result: ResultRejected, Reason: ReasonUnavailable}))
		}
	}
	g.Expect(codes[:2]).To(Equal([]int{401, 401}))
	g.Expect(codes[2:]).To(ContainElement(http.StatusServiceUnavailable))

	release := make(chan struct{})
	entered := make(chan struct{})
	blocking := &handler{inFlight: make(chan struct{}, 1), limiter: rate.NewLimiter(rate.Inf, 1)}
	capped := blocking.capped(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { close(entered); <-release }))
	go capped.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, targetPath, nil))
	<-entered
	rec := httptest.NewRecorder()
	capped.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, targetPath, nil))
	g.Expect(rec.Code).To(Equal(http.StatusServiceUnavailable), "a second request while one is in flight")
	close(release)
}
