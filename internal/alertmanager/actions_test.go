package alertmanager

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/alertmanager/amapi"
	"github.com/teams-operator/teams-operator/test/harness"
)

const (
	actConversation = "19:oncall@thread.tacv2;messageid=1700000000001"
	actActivity     = "1700000000001"
	actTenant       = "7a8c3a1e-1f3b-4b7c-9a55-000000000001"
	adaID           = "00000000-0000-0000-0000-00000000000a"
	bobID           = "00000000-0000-0000-0000-00000000000b"
	amExternal      = "http://alertmanager.example:9093" // samplePayload's externalURL
)

var actNow = time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)

// actFixture is the buttons' handler over a fake API server holding a delivered Alertmanager
// message, its target and the namespace's Alertmanager Secret.
type actFixture struct {
	client     client.Client
	recorder   *events.FakeRecorder
	actions    *Actions
	pm         *teamsv1alpha1.ProactiveMessage
	failUpdate atomic.Bool
}

func newActFixture(t *testing.T, apiSecret map[string][]byte, mutate ...func(*teamsv1alpha1.ConversationTarget, *Payload)) *actFixture {
	t.Helper()
	f := &actFixture{}
	p := samplePayload(StatusFiring, 2)
	target := &teamsv1alpha1.ConversationTarget{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "oncall"}}
	target.Status.ConversationID, target.Status.TenantID = "19:oncall@thread.tacv2", actTenant
	for _, m := range mutate {
		m(target, p)
	}
	v := NewView(p, testNS, "oncall", DefaultLimits)
	card, err := BuiltinCard(v, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	pm := Message(v, card, "", 0)
	cfg, cfgErr := ParseAPIConfig(apiSecret)
	if cfgErr != nil {
		cfgErr = ErrNoAPIConfig
	}
	pm.Spec.AdaptiveCard = withSection(card, actionsSection(pm, ActionState{}, cfg, cfgErr, true, actNow).element())
	pm.Status.ConversationID, pm.Status.ActivityID, pm.Status.Phase = actConversation, actActivity, teamsv1alpha1.PhaseDelivered
	pm.UID = "pm-uid"
	objs := []client.Object{target, pm}
	if apiSecret != nil {
		objs = append(objs, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: DefaultAPISecret}, Data: apiSecret})
	}
	f.client = interceptor.NewClient(
		fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).
			WithStatusSubresource(&teamsv1alpha1.ProactiveMessage{}).Build(),
		interceptor.Funcs{Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if f.failUpdate.Load() {
				return apierrors.NewServiceUnavailable("etcd is down")
			}
			return c.Update(ctx, obj, opts...)
		}})
	f.recorder = events.NewFakeRecorder(20)
	f.actions = NewActions(ActionOptions{Reader: f.client, Writer: f.client, Recorder: f.recorder,
		Now: func() time.Time { return actNow }, Timeout: 3 * time.Second})
	f.pm = pm
	return f
}

func (f *actFixture) press(who, whoID, verb string, data map[string]any) InvokeResult {
	d := map[string]any{"namespace": testNS, "name": f.pm.Name}
	maps.Copy(d, data)
	b, _ := json.Marshal(d)
	return f.actions.Handle(context.Background(), Invoke{
		ConversationID: actConversation, TenantID: actTenant, ReplyToID: actActivity,
		UserName: who, UserAADObjectID: whoID, Verb: verb, Data: b,
	})
}

func (f *actFixture) current(t *testing.T) *teamsv1alpha1.ProactiveMessage {
	t.Helper()
	pm := &teamsv1alpha1.ProactiveMessage{}
	if err := f.client.Get(context.Background(), client.ObjectKeyFromObject(f.pm), pm); err != nil {
		t.Fatal(err)
	}
	return pm
}

func (f *actFixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// buttons lists the Action.Execute titles of a card.
func buttons(t *testing.T, c *teamsv1alpha1.AdaptiveCard) []string {
	t.Helper()
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == "Action.Execute" {
				out = append(out, x["title"].(string))
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	b, _ := json.Marshal(c)
	var v any
	_ = json.Unmarshal(b, &v)
	walk(v)
	return out
}

func startTestAlertmanager(t *testing.T) *harness.Alertmanager {
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
	return am
}

func silences(t *testing.T, am *harness.Alertmanager) []amapi.Silence {
	t.Helper()
	resp, err := am.HTTPClient().Get(am.URL + "/api/v2/silences")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out []amapi.Silence
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func amSecret(am *harness.Alertmanager) map[string][]byte {
	return map[string][]byte{APIURLKey: []byte(am.URL), APICAKey: am.CAPEM, APIExternalURLKey: []byte(amExternal)}
}

// TestSilenceAndExpireWithRealAlertmanager: Silence 1h creates exactly the group's silence, with
// the Teams user as creator, the card and status show it, and Expire silence takes it back.
func TestSilenceAndExpireWithRealAlertmanager(t *testing.T) {
	g := NewWithT(t)
	am := startTestAlertmanager(t)
	f := newActFixture(t, amSecret(am))
	now := time.Now().UTC().Truncate(time.Second) // Alertmanager's clock
	f.actions.o.Now = func() time.Time { return now }
	g.Expect(buttons(t, f.pm.Spec.AdaptiveCard)).To(Equal([]string{"Acknowledge", "Silence 1h", "Silence 4h", "Silence 24h"}))

	res := f.press("Ada Lovelace", adaID, VerbSilence, map[string]any{"duration": "1h0m0s"})
	g.Expect(res.StatusCode).To(Equal(http.StatusOK))
	g.Expect(cardText(t, res.Card)).To(ContainSubstring("Silenced until " + clock(now.Add(time.Hour)) + " by Ada Lovelace"))
	g.Expect(buttons(t, res.Card)).To(Equal([]string{"Acknowledge", "Expire silence"}))

	list := silences(t, am)
	g.Expect(list).To(HaveLen(1))
	s := list[0]
	g.Expect(s.Status.State).To(Equal(amapi.StateActive))
	g.Expect(s.CreatedBy).To(Equal("Ada Lovelace (" + adaID + ")"))
	g.Expect(s.Matchers).To(ConsistOf(
		amapi.Matcher{Name: "alertname", Value: "HighLatency", IsEqual: true},
		amapi.Matcher{Name: "severity", Value: "critical", IsEqual: true}))
	g.Expect(s.Comment).To(ContainSubstring("from Microsoft Teams by Ada Lovelace"))
	g.Expect(s.Comment).To(ContainSubstring("https://teams.microsoft.com/l/message/19:oncall@thread.tacv2/" + actActivity))
	g.Expect(s.EndsAt).To(BeTemporally("==", now.Add(time.Hour)))

	pm := f.current(t)
	g.Expect(pm.Spec.AdaptiveCard).To(Equal(res.Card), "the message everyone sees is edited to the same card")
	g.Expect(pm.Status.CardActions.Silence.ID).To(Equal(s.ID))
	g.Expect(pm.Status.CardActions.Silence.Name).To(Equal("Ada Lovelace"))
	g.Expect(pm.Status.CardActions.Silence.Until.Time).To(BeTemporally("==", now.Add(time.Hour)))
	g.Expect(f.events()).To(ContainElement(ContainSubstring("Normal Silenced Silenced in Teams by Ada Lovelace")))

	// A second press (another person, a retry) creates no second silence.
	res = f.press("Bob", bobID, VerbSilence, map[string]any{"duration": "4h0m0s"})
	g.Expect(cardText(t, res.Card)).To(ContainSubstring("by Ada Lovelace"))
	g.Expect(silences(t, am)).To(HaveLen(1))

	res = f.press("Bob", bobID, VerbExpireSilence, map[string]any{"silenceId": s.ID})
	g.Expect(res.StatusCode).To(Equal(http.StatusOK))
	g.Expect(cardText(t, res.Card)).NotTo(ContainSubstring("Silenced until"))
	g.Expect(buttons(t, res.Card)).To(Equal([]string{"Acknowledge", "Silence 1h", "Silence 4h", "Silence 24h"}))
	g.Expect(silences(t, am)[0].Status.State).To(Equal(amapi.StateExpired))
	pm = f.current(t)
	g.Expect(pm.Status.CardActions.Silence).To(BeNil())
	g.Expect(pm.Annotations[StateAnnotation]).To(Equal("{}"))
	g.Expect(f.events()).To(ContainElement(ContainSubstring("Normal SilenceExpired")))
}

func TestAcknowledge(t *testing.T) {
	g := NewWithT(t)
	f := newActFixture(t, map[string][]byte{APIURLKey: []byte(amExternal)})
	res := f.press("Ada Lovelace", adaID, VerbAcknowledge, nil)
	g.Expect(res.StatusCode).To(Equal(http.StatusOK))
	g.Expect(cardText(t, res.Card)).To(ContainSubstring("Acknowledged by Ada Lovelace at 2026-12-04 08:00 UTC"))
	g.Expect(buttons(t, res.Card)).To(Equal([]string{"Silence 1h", "Silence 4h", "Silence 24h"}))
	pm := f.current(t)
	g.Expect(pm.Spec.AdaptiveCard).To(Equal(res.Card))
	g.Expect(pm.Status.CardActions.Acknowledged.Name).To(Equal("Ada Lovelace"))
	g.Expect(pm.Status.CardActions.Acknowledged.AADObjectID).To(Equal(adaID))
	g.Expect(pm.Status.CardActions.Acknowledged.At.Time).To(BeTemporally("==", actNow))
	g.Expect(f.events()).To(ConsistOf(ContainSubstring("Normal Acknowledged Acknowledged in Teams by Ada Lovelace")))

	// Acknowledging again keeps the first.
	res = f.press("Bob", bobID, VerbAcknowledge, nil)
	g.Expect(cardText(t, res.Card)).To(ContainSubstring("Acknowledged by Ada Lovelace"))
	g.Expect(f.current(t).Status.CardActions.Acknowledged.Name).To(Equal("Ada Lovelace"))
}

func TestOnlyAllowedUsersAct(t *testing.T) {
	g := NewWithT(t)
	f := newActFixture(t, map[string][]byte{APIURLKey: []byte(amExternal)}, func(ct *teamsv1alpha1.ConversationTarget, _ *Payload) {
		ct.Spec.CardActions = &teamsv1alpha1.CardActionsPolicy{AllowedUsers: []string{strings.ToUpper(adaID)}}
	})
	before := f.current(t)
	refused := testCounter(t, "acknowledge", ActionRefusedNotAllowed)
	res := f.press("Bob", bobID, VerbAcknowledge, nil)
	g.Expect(res.StatusCode).To(Equal(http.StatusOK))
	g.Expect(cardText(t, res.Card)).To(ContainSubstring("Only the people the ConversationTarget oncall allows may use these buttons"))
	g.Expect(f.current(t)).To(Equal(before), "a refused press changes nothing")
	g.Expect(f.events()).To(ConsistOf(ContainSubstring("Warning CardActionRefused Refused acknowledge by Bob (" + bobID + ")")))
	g.Expect(testCounter(t, "acknowledge", ActionRefusedNotAllowed)).To(Equal(refused + 1))

	// No Entra id: the list cannot be checked.
	res = f.press("Eve", "", VerbAcknowledge, nil)
	g.Expect(cardText(t, res.Card)).To(ContainSubstring("did not say who you are"))

	res = f.press("Ada Lovelace", adaID, VerbAcknowledge, nil)
	g.Expect(cardText(t, res.Card)).To(ContainSubstring("Acknowledged by Ada Lovelace"))
}

type fakeGroups struct{ members map[string]bool }

func (f fakeGroups) IsMemberOfAny(_ context.Context, _ *teamsv1alpha1.ConversationTarget, user string, _ []string) (bool, error) {
	if f.members == nil {
		return false, errors.New("graph is down")
	}
	return f.members[user], nil
}

func TestAllowedGroups(t *testing.T) {
	g := NewWithT(t)
	f := newActFixture(t, map[string][]byte{APIURLKey: []byte(amExternal)}, func(ct *teamsv1alpha1.ConversationTarget, _ *Payload) {
		ct.Spec.CardActions = &teamsv1alpha1.CardActionsPolicy{AllowedGroups: []string{"10000000-0000-0000-0000-000000000001"}}
	})
	// Without a way to check groups, nobody outside allowedUsers may act.
	g.Expect(cardText(t, f.press("Bob", bobID, VerbAcknowledge, nil).Card)).To(ContainSubstring("Only the people"))
	f.actions.o.Groups = fakeGroups{}
	g.Expect(cardText(t, f.press("Bob", bobID, VerbAcknowledge, nil).Card)).To(ContainSubstring("could not be checked now"))
	f.actions.o.Groups = fakeGroups{members: map[string]bool{adaID: true}}
	g.Expect(cardText(t, f.press("Bob", bobID, VerbAcknowledge, nil).Card)).To(ContainSubstring("Only the people"))
	g.Expect(cardText(t, f.press("Ada", adaID, VerbAcknowledge, nil).Card)).To(ContainSubstring("Acknowledged by Ada"))
}

// TestForgedButtonData: a press whose data names a message of another conversation, another
// card, or nothing of the operator's changes nothing and says so.
func TestForgedButtonData(t *testing.T) {
	g := NewWithT(t)
	f := newActFixture(t, map[string][]byte{APIURLKey: []byte(amExternal)})
	before := f.current(t)
	other := func(mutate func(*Invoke)) InvokeResult {
		b, _ := json.Marshal(map[string]any{"namespace": testNS, "name": f.pm.Name})
		inv := Invoke{ConversationID: actConversation, TenantID: actTenant, ReplyToID: actActivity,
			UserName: "Mallory", UserAADObjectID: bobID, Verb: VerbAcknowledge, Data: b}
		mutate(&inv)
		return f.actions.Handle(context.Background(), inv)
	}
	for name, mutate := range map[string]func(*Invoke){
		"another conversation": func(i *Invoke) { i.ConversationID = "19:elsewhere@thread.v2" },
		"another thread":       func(i *Invoke) { i.ConversationID = "19:oncall@thread.tacv2;messageid=42" },
		"another message":      func(i *Invoke) { i.ReplyToID = "42" },
		"another tenant":       func(i *Invoke) { i.TenantID = "7a8c3a1e-1f3b-4b7c-9a55-000000000002" },
		"unknown verb":         func(i *Invoke) { i.Verb = "alertmanager.delete" },
		"no data":              func(i *Invoke) { i.Data = nil },
		"another message name": func(i *Invoke) { i.Data = json.RawMessage(`{"namespace":"alerts","name":"other"}`) },
		"huge data":            func(i *Invoke) { i.Data = json.RawMessage(`"` + strings.Repeat("x", 5000) + `"`) },
	} {
		res := other(mutate)
		g.Expect(res.StatusCode).To(Equal(http.StatusBadRequest), name)
		g.Expect(res.Card).To(BeNil(), name)
		g.Expect(res.Message).To(HavePrefix("This card's buttons no longer work"), name)
	}
	// The channel itself (not the thread) is the same conversation.
	g.Expect(other(func(i *Invoke) { i.ConversationID = "19:oncall@thread.tacv2" }).StatusCode).To(Equal(http.StatusOK))
	g.Expect(f.current(t).Annotations[StateAnnotation]).NotTo(BeEmpty())
	_ = before
}

func TestAlertmanagerDownChangesNothing(t *testing.T) {
	g := NewWithT(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	g.Expect(l.Close()).To(Succeed())
	f := newActFixture(t, map[string][]byte{APIURLKey: []byte("http://" + addr), APIExternalURLKey: []byte(amExternal)})
	before := f.current(t)
	res := f.press("Ada", adaID, VerbSilence, map[string]any{"duration": "1h0m0s"})
	g.Expect(res.StatusCode).To(Equal(http.StatusOK))
	g.Expect(cardText(t, res.Card)).To(ContainSubstring("Alertmanager did not create the silence: Alertmanager did not answer in time. Nothing was changed"))
	g.Expect(buttons(t, res.Card)).To(ContainElement("Silence 1h"))
	g.Expect(f.current(t)).To(Equal(before))
	g.Expect(f.events()).To(ConsistOf(ContainSubstring("Warning CardActionFailed")))
}

func TestHungAlertmanagerAnswersInTime(t *testing.T) {
	g := NewWithT(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	f := newActFixture(t, map[string][]byte{APIURLKey: []byte(srv.URL), APIExternalURLKey: []byte(amExternal)})
	f.actions.o.Timeout = time.Second
	began := time.Now()
	res := f.press("Ada", adaID, VerbSilence, map[string]any{"duration": "1h0m0s"})
	g.Expect(time.Since(began)).To(BeNumerically("<", 4*time.Second))
	g.Expect(cardText(t, res.Card)).To(ContainSubstring("Nothing was changed"))
	g.Expect(f.current(t).Annotations).NotTo(HaveKey(StateAnnotation))
}

// TestExternalURLElsewhere: a group from another Alertmanager than the namespace's has no
// buttons, a press is refused, and its externalURL is never called.
func TestExternalURLElsewhere(t *testing.T) {
	g := NewWithT(t)
	var calls atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }))
	defer elsewhere.Close()
	am := startTestAlertmanager(t)
	f := newActFixture(t, map[string][]byte{APIURLKey: []byte(am.URL), APICAKey: am.CAPEM}, func(_ *teamsv1alpha1.ConversationTarget, p *Payload) {
		p.ExternalURL = elsewhere.URL
	})
	g.Expect(buttons(t, f.pm.Spec.AdaptiveCard)).To(BeEmpty())
	g.Expect(cardText(t, f.pm.Spec.AdaptiveCard)).To(ContainSubstring("Buttons are off: this alert came from another Alertmanager"))
	res := f.press("Ada", adaID, VerbSilence, map[string]any{"duration": "1h0m0s"})
	g.Expect(cardText(t, res.Card)).To(ContainSubstring("came from another Alertmanager"))
	g.Expect(silences(t, am)).To(BeEmpty())
	g.Expect(calls.Load()).To(BeZero())
}

func TestSilenceRefusals(t *testing.T) {
	g := NewWithT(t)
	f := newActFixture(t, map[string][]byte{APIURLKey: []byte(amExternal)})
	res := f.press("Ada", adaID, VerbSilence, map[string]any{"duration": "87600h0m0s"})
	g.Expect(cardText(t, res.Card)).To(ContainSubstring("That silence duration is not offered"))

	f = newActFixture(t, nil)
	g.Expect(buttons(t, f.pm.Spec.AdaptiveCard)).To(BeEmpty(), "no Alertmanager named: no buttons")
	res = f.press("Ada", adaID, VerbAcknowledge, nil)
	g.Expect(cardText(t, res.Card)).To(ContainSubstring("names no Alertmanager (Secret alertmanager-api)"))

	f = newActFixture(t, map[string][]byte{APIURLKey: []byte(amExternal), APIButtonsKey: []byte("false")})
	g.Expect(buttons(t, f.pm.Spec.AdaptiveCard)).To(BeEmpty())
	res = f.press("Ada", adaID, VerbAcknowledge, nil)
	g.Expect(cardText(t, res.Card)).To(ContainSubstring("turned the buttons off"))
}

// TestSilenceUndoneWhenNotRecorded: when the message cannot be updated, the silence just
// created is expired again, so Alertmanager and the card agree.
func TestSilenceUndoneWhenNotRecorded(t *testing.T) {
	g := NewWithT(t)
	am := startTestAlertmanager(t)
	f := newActFixture(t, amSecret(am))
	f.actions.o.Now = time.Now
	f.failUpdate.Store(true)
	res := f.press("Ada", adaID, VerbSilence, map[string]any{"duration": "1h0m0s"})
	g.Expect(cardText(t, res.Card)).To(ContainSubstring("The silence could not be recorded, so it was expired again"))
	g.Eventually(func(g Gomega) {
		list := silences(t, am)
		g.Expect(list).To(HaveLen(1))
		g.Expect(list[0].Status.State).To(Equal(amapi.StateExpired))
	}).WithTimeout(10 * time.Second).Should(Succeed())
	g.Expect(f.current(t).Annotations).NotTo(HaveKey(StateAnnotation))
}

// TestCardStates renders the actions element in each state.
func TestCardStates(t *testing.T) {
	g := NewWithT(t)
	cfg, err := ParseAPIConfig(map[string][]byte{APIURLKey: []byte(amExternal), APIDurationsKey: []byte("30m,2h")})
	g.Expect(err).NotTo(HaveOccurred())
	v := NewView(samplePayload(StatusFiring, 1), testNS, "oncall", DefaultLimits)
	card, err := BuiltinCard(v, DefaultLimits)
	g.Expect(err).NotTo(HaveOccurred())
	pm := Message(v, card, "", 0)
	render := func(s ActionState, botEndpoint bool) *teamsv1alpha1.AdaptiveCard {
		return withSection(card, actionsSection(pm, s, cfg, nil, botEndpoint, actNow).element())
	}
	g.Expect(buttons(t, render(ActionState{}, true))).To(Equal([]string{"Acknowledge", "Silence 30m", "Silence 2h"}))
	g.Expect(buttons(t, render(ActionState{}, false))).To(BeEmpty(), "without the bot endpoint nobody receives a press")
	g.Expect(render(ActionState{}, false)).To(Equal(card))

	acked := ActionState{Acknowledged: &Actor{Name: "Ada", ID: adaID, At: actNow}}
	silenced := ActionState{Silence: &SilenceState{Actor: Actor{Name: "Bob", At: actNow}, SilenceID: "s1", Until: actNow.Add(2 * time.Hour)}}
	g.Expect(cardText(t, render(acked, true))).To(ContainSubstring("✔ Acknowledged by Ada at 2026-12-04 08:00 UTC"))
	g.Expect(cardText(t, render(silenced, true))).To(ContainSubstring("🔕 Silenced until 2026-12-04 10:00 UTC by Bob"))
	g.Expect(buttons(t, render(silenced, true))).To(Equal([]string{"Acknowledge", "Expire silence"}))
	// State stays visible without buttons, and an ended silence is not shown.
	g.Expect(cardText(t, render(acked, false))).To(ContainSubstring("Acknowledged by Ada"))
	ended := silenced
	ended.Silence = &SilenceState{Actor: silenced.Silence.Actor, SilenceID: "s1", Until: actNow}
	g.Expect(cardText(t, render(ended, true))).NotTo(ContainSubstring("Silenced"))

	// A resolved group keeps its state and loses its buttons.
	pm.Labels[StatusLabel] = StatusResolved
	g.Expect(buttons(t, render(acked, true))).To(BeEmpty())
	// Rendering twice replaces the element rather than adding another.
	twice := withSection(render(acked, true), actionsSection(pm, acked, cfg, nil, true, actNow).element())
	g.Expect(twice).To(Equal(render(acked, true)))
	// Cards older than 1.4 cannot carry Action.Execute.
	old := card.DeepCopy()
	old.Version = "1.2"
	g.Expect(withSection(old, actionsSection(pm, acked, cfg, nil, true, actNow).element())).To(Equal(old))
}

func TestMatchersAnnotation(t *testing.T) {
	g := NewWithT(t)
	g.Expect(matchersAnnotation(map[string]string{"b": "2", "a": "1"})).To(Equal(`{"a":"1","b":"2"}`))
	g.Expect(matchersAnnotation(nil)).To(BeEmpty())
	g.Expect(matchersAnnotation(map[string]string{"a": ""})).To(BeEmpty())
	big := map[string]string{}
	for i := range 65 {
		big[string(rune('a'+i%26))+strings.Repeat("x", i)] = "v"
	}
	g.Expect(matchersAnnotation(big)).To(BeEmpty())
	g.Expect(matchersAnnotation(map[string]string{"a": strings.Repeat("v", 20000)})).To(BeEmpty())
}

func testCounter(t *testing.T, action, result string) float64 {
	t.Helper()
	m := &dto.Metric{}
	if err := actionsTotal.WithLabelValues(action, result).Write(m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestReceiverCardButtons: with the bot endpoint on and the namespace's Alertmanager named, the
// receiver's card has the buttons and what a silence needs; what people did stays on the card
// when the group changes, and a repeat still writes nothing.
func TestReceiverCardButtons(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: DefaultAPISecret},
		Data: map[string][]byte{APIURLKey: []byte(amExternal)}})
	f.handler = NewHandler(Options{Reader: f.client, Writer: f.client, RatePerSecond: 1e6, Buttons: true,
		Now: func() time.Time { return actNow }})
	ctx := context.Background()
	name := Name(samplePayload(StatusFiring, 1).GroupKey, "oncall")
	get := func() *teamsv1alpha1.ProactiveMessage {
		pm := &teamsv1alpha1.ProactiveMessage{}
		g.Expect(f.client.Get(ctx, client.ObjectKey{Namespace: testNS, Name: name}, pm)).To(Succeed())
		return pm
	}
	g.Expect(f.post(t, targetPath, testToken, mustJSON(t, samplePayload(StatusFiring, 1))).body.Result).To(Equal(ResultCreated))
	pm := get()
	g.Expect(buttons(t, pm.Spec.AdaptiveCard)).To(Equal([]string{"Acknowledge", "Silence 1h", "Silence 4h", "Silence 24h"}))
	g.Expect(pm.Annotations).To(HaveKeyWithValue(MatchersAnnotation, `{"alertname":"HighLatency","severity":"critical"}`))
	g.Expect(pm.Annotations).To(HaveKeyWithValue(ExternalURLAnnotation, amExternal))

	// Someone acknowledged in Teams; the group grows: the card keeps the acknowledgement.
	pm.Annotations[StateAnnotation] = ActionState{Acknowledged: &Actor{Name: "Ada", At: actNow}}.annotation()
	g.Expect(f.client.Update(ctx, pm)).To(Succeed())
	g.Expect(f.post(t, targetPath, testToken, mustJSON(t, samplePayload(StatusFiring, 2))).body.Result).To(Equal(ResultUpdated))
	pm = get()
	g.Expect(cardText(t, pm.Spec.AdaptiveCard)).To(ContainSubstring("Acknowledged by Ada"))
	g.Expect(buttons(t, pm.Spec.AdaptiveCard)).To(Equal([]string{"Silence 1h", "Silence 4h", "Silence 24h"}))
	g.Expect(f.post(t, targetPath, testToken, mustJSON(t, samplePayload(StatusFiring, 2))).body.Result).To(Equal(ResultUnchanged))

	// Resolved: the state stays, the buttons go.
	g.Expect(f.post(t, targetPath, testToken, mustJSON(t, samplePayload(StatusResolved, 2))).body.Result).To(Equal(ResultUpdated))
	pm = get()
	g.Expect(cardText(t, pm.Spec.AdaptiveCard)).To(ContainSubstring("Acknowledged by Ada"))
	g.Expect(buttons(t, pm.Spec.AdaptiveCard)).To(BeEmpty())

	// A custom card (schema 1.4) gets the same element after its own content.
	g.Expect(f.post(t, targetPath+"?template=my-card", testToken, mustJSON(t, samplePayload(StatusFiring, 1))).body.Result).To(Equal(ResultCreated))
	pm = get()
	g.Expect(cardText(t, pm.Spec.AdaptiveCard)).To(ContainSubstring("FIRING: HighLatency"))
	g.Expect(buttons(t, pm.Spec.AdaptiveCard)).To(Equal([]string{"Acknowledge", "Silence 1h", "Silence 4h", "Silence 24h"}))

	// Without the bot endpoint the card has no buttons at all.
	f.handler = NewHandler(Options{Reader: f.client, Writer: f.client, RatePerSecond: 1e6})
	p := samplePayload(StatusFiring, 1)
	p.GroupKey = "other"
	g.Expect(f.post(t, targetPath, testToken, mustJSON(t, p)).body.Result).To(Equal(ResultCreated))
	other := &teamsv1alpha1.ProactiveMessage{}
	g.Expect(f.client.Get(ctx, client.ObjectKey{Namespace: testNS, Name: Name("other", "oncall")}, other)).To(Succeed())
	g.Expect(buttons(t, other.Spec.AdaptiveCard)).To(BeEmpty())
}

type fakeBots struct{ appID string }

func (f fakeBots) Matches(_ context.Context, _ string, _ *teamsv1alpha1.LocalObjectReference, appID, _ string) bool {
	return appID == f.appID
}

// TestOtherBotsMessage: a press for another bot than the target's credentials changes nothing.
func TestOtherBotsMessage(t *testing.T) {
	g := NewWithT(t)
	f := newActFixture(t, map[string][]byte{APIURLKey: []byte(amExternal)})
	f.actions.o.Bots = fakeBots{appID: "our-bot"}
	b, _ := json.Marshal(map[string]any{"namespace": testNS, "name": f.pm.Name})
	inv := Invoke{BotAppID: "their-bot", ConversationID: actConversation, TenantID: actTenant, ReplyToID: actActivity,
		UserName: "Ada", UserAADObjectID: adaID, Verb: VerbAcknowledge, Data: b}
	res := f.actions.Handle(context.Background(), inv)
	g.Expect(res.StatusCode).To(Equal(http.StatusBadRequest))
	g.Expect(res.Message).To(ContainSubstring("not this bot's message"))
	inv.BotAppID = "our-bot"
	g.Expect(cardText(t, f.actions.Handle(context.Background(), inv).Card)).To(ContainSubstring("Acknowledged by Ada"))
}
