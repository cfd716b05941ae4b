package outcome

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

var conflict = apierrors.NewConflict(schema.GroupResource{Resource: "conversationtargets"}, "t", errors.New("changed"))

func TestRunStopsAtTheFirstError(t *testing.T) {
	g := NewWithT(t)
	var ran []string
	step := func(name string, err error) Step[*[]string] {
		return func(_ context.Context, s *[]string) error { *s = append(*s, name); return err }
	}
	err := Run(context.Background(), &ran, step("a", nil), step("b", Wait("R", "m", time.Second)), step("c", nil))
	g.Expect(ran).To(Equal([]string{"a", "b"}))
	o, ok := As(err)
	g.Expect(ok).To(BeTrue())
	g.Expect(o.Kind).To(Equal(Waiting))

	ran = nil
	g.Expect(Run(context.Background(), &ran, step("a", nil), step("b", nil))).To(Succeed())
	g.Expect(ran).To(Equal([]string{"a", "b"}))
}

func TestApply(t *testing.T) {
	boom := errors.New("boom")
	tests := map[string]struct {
		err         error
		wantResult  ctrl.Result
		wantErr     error
		wantReason  string // "": conditions untouched
		wantStalled bool
	}{
		"nothing":                               {},
		"a plain failure goes to the workqueue": {err: boom, wantErr: boom},
		"a conflict comes back in a second":     {err: fmt.Errorf("x: %w", conflict), wantResult: ctrl.Result{RequeueAfter: time.Second}},
		"waiting":                               {err: Wait("W", "m", time.Minute), wantResult: ctrl.Result{RequeueAfter: time.Minute}, wantReason: "W"},
		"stalled on the spec":                   {err: Stall("S", "m"), wantReason: "S", wantStalled: true},
		"stalled outside the cluster":           {err: StallExternal("S", "m"), wantResult: ctrl.Result{RequeueAfter: 5 * time.Minute}, wantReason: "S", wantStalled: true},
		"retry with backoff":                    {err: RetryErr("R", "m", boom), wantErr: boom, wantReason: "R"},
		"retry at the server's time":            {err: RetryIn("R", "m", 3*time.Second), wantResult: ctrl.Result{RequeueAfter: 3 * time.Second}, wantReason: "R"},
		"done keeps the conditions":             {err: Requeue(time.Hour), wantResult: ctrl.Result{RequeueAfter: time.Hour}},
		"a wrapped outcome is applied":          {err: fmt.Errorf("step: %w", Stall("S", "m")), wantReason: "S", wantStalled: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			obj := &teamsv1alpha1.ConversationTarget{}
			res, err := Apply(context.Background(), obj, 5*time.Minute, tc.err)
			g.Expect(res).To(Equal(tc.wantResult))
			if tc.wantErr == nil {
				g.Expect(err).NotTo(HaveOccurred())
			} else {
				g.Expect(err).To(MatchError(tc.wantErr))
				g.Expect(res.IsZero()).To(BeTrue(), "never a result together with an error")
			}
			ready := meta.FindStatusCondition(obj.Status.Conditions, teamsv1alpha1.ReadyCondition)
			if tc.wantReason == "" {
				g.Expect(ready).To(BeNil())
				return
			}
			g.Expect(ready.Reason).To(Equal(tc.wantReason))
			g.Expect(meta.IsStatusConditionTrue(obj.Status.Conditions, teamsv1alpha1.StalledCondition)).To(Equal(tc.wantStalled))
			g.Expect(meta.IsStatusConditionTrue(obj.Status.Conditions, teamsv1alpha1.ReconcilingCondition)).To(Equal(!tc.wantStalled))
		})
	}
}

func TestSooner(t *testing.T) {
	tests := map[string]struct{ a, b, want time.Duration }{
		"both zero":      {},
		"first zero":     {b: time.Second, want: time.Second},
		"second zero":    {a: time.Minute, want: time.Minute},
		"sooner wins":    {a: time.Minute, b: time.Second, want: time.Second},
		"sooner wins, 2": {a: time.Second, b: time.Minute, want: time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Sooner(ctrl.Result{RequeueAfter: tc.a}, ctrl.Result{RequeueAfter: tc.b})
			NewWithT(t).Expect(got.RequeueAfter).To(Equal(tc.want))
		})
	}
}

// finishRig is a fake API server whose status writes can be made to fail.
type finishRig struct {
	client    client.Client
	rec       *events.FakeRecorder
	statusErr error
	writes    int
}

func newFinishRig(t *testing.T) (*finishRig, *teamsv1alpha1.ConversationTarget) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := teamsv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	seed := &teamsv1alpha1.ConversationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "t", Generation: 1}}
	rig := &finishRig{rec: events.NewFakeRecorder(10)}
	rig.client = fake.NewClientBuilder().WithScheme(scheme).WithObjects(seed).WithStatusSubresource(seed).
		WithInterceptorFuncs(interceptor.Funcs{
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
				rig.writes++
				if rig.statusErr != nil {
					return rig.statusErr
				}
				return c.SubResource(sub).Patch(ctx, obj, p, opts...)
			},
		}).Build()
	obj := &teamsv1alpha1.ConversationTarget{}
	if err := rig.client.Get(context.Background(), client.ObjectKeyFromObject(seed), obj); err != nil {
		t.Fatal(err)
	}
	return rig, obj
}

func TestFinish(t *testing.T) {
	boom := errors.New("boom")
	tests := map[string]struct {
		result     ctrl.Result
		err        error
		statusErr  error
		skip       bool
		wantResult ctrl.Result
		wantErr    bool
		wantWrites int
		wantEvent  bool
	}{
		"writes status once and announces the transition": {result: ctrl.Result{RequeueAfter: time.Minute},
			wantResult: ctrl.Result{RequeueAfter: time.Minute}, wantWrites: 1, wantEvent: true},
		"an error drops the result": {result: ctrl.Result{RequeueAfter: time.Minute}, err: boom, wantErr: true,
			wantWrites: 1, wantEvent: true},
		"a conflicting write comes back in a second": {statusErr: conflict,
			wantResult: ctrl.Result{RequeueAfter: ConflictRequeue}, wantWrites: 1},
		"a failed write is an error and announces nothing": {statusErr: boom, wantErr: true, wantWrites: 1},
		"skip writes nothing": {skip: true, result: ctrl.Result{RequeueAfter: time.Second},
			wantResult: ctrl.Result{RequeueAfter: time.Second}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			rig, obj := newFinishRig(t)
			rig.statusErr = tc.statusErr
			f := Begin(rig.client, rig.rec, obj)
			var patched []error
			f.OnPatched = func(err error) { patched = append(patched, err) }
			if tc.skip {
				f.Skip()
			}
			Apply(context.Background(), obj, 0, Stall("InvalidSpec", "bad")) //nolint:errcheck // conditions only
			res, err := f.Finish(context.Background(), tc.result, tc.err)
			g.Expect(res).To(Equal(tc.wantResult))
			g.Expect(err != nil).To(Equal(tc.wantErr))
			g.Expect(rig.writes).To(Equal(tc.wantWrites))
			g.Expect(patched).To(HaveLen(tc.wantWrites))
			if tc.wantEvent {
				g.Expect(rig.rec.Events).To(Receive(ContainSubstring("InvalidSpec")))
			} else {
				g.Expect(rig.rec.Events).NotTo(Receive())
			}
		})
	}
}

func TestANewGenerationIsNews(t *testing.T) {
	g := NewWithT(t)
	rig, obj := newFinishRig(t)
	Apply(context.Background(), obj, 0, Stall("InvalidSpec", "bad")) //nolint:errcheck // conditions only
	f := Begin(rig.client, rig.rec, obj)
	_, err := f.Finish(context.Background(), ctrl.Result{}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rig.rec.Events).NotTo(Receive(), "same reason, same generation: no event")

	obj.Generation = 2
	f = Begin(rig.client, rig.rec, obj)
	f.NewGenerationIsNews()
	Apply(context.Background(), obj, 0, Stall("InvalidSpec", "bad")) //nolint:errcheck // conditions only
	_, err = f.Finish(context.Background(), ctrl.Result{}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rig.rec.Events).To(Receive(ContainSubstring("InvalidSpec")), "a new spec's outcome is news")
}

func TestBackoff(t *testing.T) {
	tests := map[string]struct {
		attempts int32
		jitter   float64
		want     time.Duration
	}{
		"first retry, low jitter":  {attempts: 1, jitter: 0.5, want: time.Second},
		"first retry clamps to 1s": {attempts: 1, jitter: 0, want: time.Second},
		"third retry":              {attempts: 3, jitter: 0.5, want: 4 * time.Second},
		"third retry, +20%":        {attempts: 3, jitter: 1, want: 4800 * time.Millisecond},
		"third retry, -20%":        {attempts: 3, jitter: 0, want: 3200 * time.Millisecond},
		"capped at five minutes":   {attempts: 40, jitter: 0.5, want: 5 * time.Minute},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(Backoff(tc.attempts, tc.jitter)).To(Equal(tc.want))
		})
	}
}

func TestRetryWait(t *testing.T) {
	g := NewWithT(t)
	g.Expect(Clamp(0)).To(Equal(time.Second))
	g.Expect(Clamp(1500 * time.Millisecond)).To(Equal(1500 * time.Millisecond))
	g.Expect(Clamp(3 * time.Hour)).To(Equal(time.Hour))
	g.Expect(RetryWait(300*time.Millisecond, 5)).To(Equal(time.Second), "Retry-After wins, clamped")
	g.Expect(RetryWait(7*time.Second, 5)).To(Equal(7 * time.Second))
	g.Expect(RetryWait(0, 0)).To(BeNumerically("~", time.Second, 200*time.Millisecond), "no Retry-After: backoff from 1s")
	g.Expect(RetryWait(0, 3)).To(BeNumerically("~", 4*time.Second, 800*time.Millisecond))
}
