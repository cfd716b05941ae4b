package faults_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/test/harness"
)

// ns is the namespace of every object; each test has its own control plane.
const ns = "faults"

// workers is the manager's --message-workers: more sends in flight make a kill land mid-flight.
const workers = 16

// suite is one test's control plane, emulator and managers.
type suite struct {
	t   *testing.T
	g   *WithT
	ctx context.Context
	env *harness.Env
	// c is a client without client-go's default 5 requests per second.
	c client.Client
}

// start starts a control plane and the emulator for t, with the namespace ns and its credentials.
// When t fails, the tail of every process log is printed before the directory goes.
func start(t *testing.T, opts emulator.Options) *suite {
	t.Helper()
	g := NewWithT(t)
	g.SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	ctx := t.Context()
	began := time.Now()
	env, err := harness.Start(harness.Options{Dir: t.TempDir(), Emulator: opts})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() {
		stopping := time.Now()
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the environment: %v", err)
		}
		t.Logf("environment stopped in %s", time.Since(stopping).Round(time.Millisecond))
	})
	t.Cleanup(func() { keepLogs(t, env.Dir) })
	g.Expect(env.Namespace(ctx, ns)).To(Succeed())
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 500, 1000
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	t.Logf("control plane and emulator up in %s", time.Since(began).Round(time.Millisecond))
	return &suite{t: t, g: g, ctx: ctx, env: env, c: c}
}

// manager starts the manager binary with the suite's flags; extra flags come last and win.
func (s *suite) manager(name string, extra ...string) *harness.Manager {
	s.t.Helper()
	args := append([]string{
		"--default-credentials", ns + "/" + harness.CredentialsName,
		"--message-workers", fmt.Sprint(workers),
	}, extra...)
	m, err := s.env.StartManager(s.ctx, name, args...)
	s.g.Expect(err).NotTo(HaveOccurred())
	return m
}

// conversations adds n users with the bot installed for them and a Ready ConversationTarget
// (prefix-00, prefix-01, ...) for each 1:1 chat, resolved by the running manager or the next one.
// It returns the chat ids by target name.
func (s *suite) conversations(prefix string, n int) map[string]string {
	s.t.Helper()
	chats := map[string]string{}
	var users []emulator.UserSeed
	for i := range n {
		id := uuid.NewString()
		users = append(users, emulator.UserSeed{
			ID: id, UserPrincipalName: "u-" + id[:8] + "@" + emulator.DefaultTenantDomain, DisplayName: "User " + id[:8],
			InstalledApps: []string{emulator.DefaultTeamsAppID},
		})
		chats[fmt.Sprintf("%s-%02d", prefix, i)] = emulator.PersonalChatID(emulator.DefaultBotAppID, id)
	}
	s.g.Expect(s.env.Emulator.MergeSeed(&emulator.Seed{Tenants: []emulator.TenantSeed{{
		ID: emulator.DefaultTenantID, Users: users,
	}}})).To(Succeed())
	var objs [][]client.Object
	for name, chat := range chats {
		objs = append(objs, []client.Object{&teamsv1alpha1.ConversationTarget{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec:       teamsv1alpha1.ConversationTargetSpec{Conversation: &teamsv1alpha1.KnownConversation{ID: chat}},
		}})
	}
	s.create(objs...)
	return chats
}

// create creates the groups of objects, several groups at a time and each group in order: one
// by one, 500 messages take minutes on a loaded machine, but messages to one target must be
// created in the order they are to arrive (creationTimestamp has a one-second resolution, so a
// later message created in an earlier second would go first).
func (s *suite) create(groups ...[]client.Object) {
	s.t.Helper()
	errs := make([]error, len(groups))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, group := range groups {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			for _, o := range group {
				if errs[i] = s.c.Create(s.ctx, o); errs[i] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	s.g.Expect(errors.Join(errs...)).NotTo(HaveOccurred())
}

// messageObjects builds messages target-m00 ... to target, the text of each being its name (so
// Teams' copies can be counted by text); guarantee(i) picks each one's delivery guarantee.
func messageObjects(target string, n int, guarantee func(i int) teamsv1alpha1.DeliveryGuarantee) ([]string, []client.Object) {
	names := make([]string, n)
	objs := make([]client.Object, n)
	for i := range n {
		names[i] = fmt.Sprintf("%s-m%02d", target, i)
		objs[i] = &teamsv1alpha1.ProactiveMessage{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: names[i]},
			Spec: teamsv1alpha1.ProactiveMessageSpec{
				TargetRef: teamsv1alpha1.LocalObjectReference{Name: target}, Text: names[i],
				DeliveryGuarantee: guarantee(i),
			},
		}
	}
	return names, objs
}

func always(d teamsv1alpha1.DeliveryGuarantee) func(int) teamsv1alpha1.DeliveryGuarantee {
	return func(int) teamsv1alpha1.DeliveryGuarantee { return d }
}

// messages lists every ProactiveMessage by name.
func (s *suite) messages(g Gomega) map[string]teamsv1alpha1.ProactiveMessage {
	list := &teamsv1alpha1.ProactiveMessageList{}
	g.Expect(s.c.List(s.ctx, list, client.InNamespace(ns))).To(Succeed())
	out := make(map[string]teamsv1alpha1.ProactiveMessage, len(list.Items))
	for _, m := range list.Items {
		out[m.Name] = m
	}
	return out
}

// settled waits until every message of names is in a final phase ("nothing stuck") and returns
// them all.
func (s *suite) settled(names []string, timeout time.Duration) map[string]teamsv1alpha1.ProactiveMessage {
	s.t.Helper()
	var msgs map[string]teamsv1alpha1.ProactiveMessage
	began := time.Now()
	s.g.Eventually(func(g Gomega) {
		msgs = s.messages(g)
		var open []string
		for _, n := range names {
			switch msgs[n].Status.Phase {
			case teamsv1alpha1.PhaseDelivered, teamsv1alpha1.PhaseUnknown, teamsv1alpha1.PhaseFailed, teamsv1alpha1.PhaseExpired:
			default:
				open = append(open, n+"="+string(msgs[n].Status.Phase))
			}
		}
		g.Expect(open).To(BeEmpty(), "messages not finished")
	}).WithTimeout(timeout).WithPolling(500 * time.Millisecond).Should(Succeed())
	s.t.Logf("%d messages finished %s after the wait began", len(names), time.Since(began).Round(time.Millisecond))
	return msgs
}

// teams is what Teams holds in one conversation: the copies of each text and the texts in the
// order they arrived.
type teams struct {
	copies map[string]int
	ids    map[string][]string // activity ids by text
	order  []string
}

func (s *suite) teams(chat string) teams {
	out := teams{copies: map[string]int{}, ids: map[string][]string{}}
	for _, a := range s.env.Emulator.ConversationActivities(chat) {
		var act struct {
			Text string `json:"text"`
		}
		s.g.Expect(json.Unmarshal(a.Activity, &act)).To(Succeed())
		out.copies[act.Text]++
		out.ids[act.Text] = append(out.ids[act.Text], a.ActivityID)
		out.order = append(out.order, act.Text)
	}
	return out
}

// firstArrivals is order without repeats: the order in which messages first reached Teams.
func (tm teams) firstArrivals() []string {
	var out []string
	for _, text := range tm.order {
		if !slices.Contains(out, text) {
			out = append(out, text)
		}
	}
	return out
}

// meta returns the condition of type t (a zero one when absent).
func meta(conds []metav1.Condition, t string) metav1.Condition {
	for _, c := range conds {
		if c.Type == t {
			return c
		}
	}
	return metav1.Condition{}
}

// expectDelivered checks a Delivered message against Teams: status and the record (annotations
// or the send journal) name one of the copies Teams holds.
func expectDelivered(g *WithT, m teamsv1alpha1.ProactiveMessage, rec record, tm teams) {
	g.Expect(m.Status.Phase).To(Equal(teamsv1alpha1.PhaseDelivered), m.Name)
	g.Expect(tm.ids[m.Name]).To(ContainElement(m.Status.ActivityID), "%s: status.activityId is a message Teams holds", m.Name)
	g.Expect(rec.activityID).To(Equal(m.Status.ActivityID), "%s: the activity id in %s", m.Name, rec.where)
	g.Expect(meta(m.Status.Conditions, teamsv1alpha1.ReadyCondition)).To(And(
		HaveField("Status", metav1.ConditionTrue), HaveField("Reason", teamsv1alpha1.DeliveredReason)), m.Name)
}

// expectDeliveredOrLost is expectDelivered for a message whose ids the journal may have lost in
// a crash (sendRecords' lost): the record holds no activity id, or the right one.
func expectDeliveredOrLost(g *WithT, m teamsv1alpha1.ProactiveMessage, rec record, tm teams, lost bool) {
	if lost && !rec.result {
		rec.activityID = m.Status.ActivityID // status is what the journal's copy backs up
	}
	expectDelivered(g, m, rec, tm)
}

// expectUnknown checks an Unknown message: AtMostOnce, Stalled with DeliveryUnknown and a
// message that says why, and at most one copy in Teams.
func expectUnknown(g *WithT, m teamsv1alpha1.ProactiveMessage, rec record, tm teams) {
	g.Expect(m.Status.Phase).To(Equal(teamsv1alpha1.PhaseUnknown), m.Name)
	g.Expect(m.Spec.DeliveryGuarantee).To(Equal(teamsv1alpha1.AtMostOnce), "%s: only AtMostOnce ends Unknown", m.Name)
	g.Expect(tm.copies[m.Name]).To(BeNumerically("<=", 1), "%s: Unknown, never sent twice", m.Name)
	g.Expect(meta(m.Status.Conditions, teamsv1alpha1.ReadyCondition)).To(And(
		HaveField("Status", metav1.ConditionFalse), HaveField("Reason", teamsv1alpha1.DeliveryUnknownReason),
		HaveField("Message", ContainSubstring("got no answer"))), m.Name)
	g.Expect(meta(m.Status.Conditions, teamsv1alpha1.StalledCondition)).To(HaveField("Status", metav1.ConditionTrue), m.Name)
	g.Expect(rec.marker).NotTo(BeEmpty(), "%s: a send-attempt marker (%s)", m.Name, rec.where)
	g.Expect(rec.result).To(BeFalse(), "%s: no activity id (%s)", m.Name, rec.where)
}

// secrets are strings that must never appear in status, events or logs: the bot's client
// secret and the start of any JWT (a bearer token).
var secrets = []string{emulator.DefaultBotSecret, "eyJhbGci", "eyJ0eXAi"}

// expectNoSecrets checks the messages' status and annotations, the send journal and every
// process log.
func (s *suite) expectNoSecrets(msgs map[string]teamsv1alpha1.ProactiveMessage) {
	s.t.Helper()
	for _, m := range msgs {
		b, err := json.Marshal(struct {
			A map[string]string
			S teamsv1alpha1.ProactiveMessageStatus
		}{m.Annotations, m.Status})
		s.g.Expect(err).NotTo(HaveOccurred())
		for _, secret := range secrets {
			s.g.Expect(string(b)).NotTo(ContainSubstring(secret), "%s: status or annotations", m.Name)
		}
	}
	_, journal := s.sendJournal(s.g)
	b, err := json.Marshal(journal)
	s.g.Expect(err).NotTo(HaveOccurred())
	for _, secret := range secrets {
		s.g.Expect(string(b)).NotTo(ContainSubstring(secret), "the send journal")
	}
	logs, err := filepath.Glob(filepath.Join(s.env.Dir, "*.log"))
	s.g.Expect(err).NotTo(HaveOccurred())
	s.g.Expect(logs).NotTo(BeEmpty())
	for _, l := range logs {
		b, err := os.ReadFile(l)
		s.g.Expect(err).NotTo(HaveOccurred())
		for _, secret := range secrets {
			s.g.Expect(string(b)).NotTo(ContainSubstring(secret), l)
		}
	}
}

// journal returns the journal's sendActivity requests to chat: every send that reached Teams.
func (s *suite) journal(chat string) []emulator.JournalEntry {
	var out []emulator.JournalEntry
	for _, r := range s.env.Emulator.Requests() {
		if r.Operation == "sendActivity" && strings.Contains(r.Path, chat) {
			out = append(out, r)
		}
	}
	return out
}

// keepLogs copies the process logs to $FAULTS_LOG_DIR/<test> when that is set, and prints the
// last lines of each when t failed.
func keepLogs(t *testing.T, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if keep := os.Getenv("FAULTS_LOG_DIR"); keep != "" {
		to := filepath.Join(keep, t.Name())
		if err := os.MkdirAll(to, 0o750); err != nil {
			t.Errorf("FAULTS_LOG_DIR: %v", err)
		}
		for _, l := range logs {
			if b, err := os.ReadFile(l); err == nil {
				_ = os.WriteFile(filepath.Join(to, filepath.Base(l)), b, 0o600)
			}
		}
	}
	if !t.Failed() {
		return
	}
	for _, l := range logs {
		f, err := os.Open(l)
		if err != nil {
			continue
		}
		var lines []string
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if len(line) > 600 {
				line = line[:600] + "…"
			}
			lines = append(lines, line)
		}
		_ = f.Close()
		t.Logf("=== last lines of %s:\n%s", filepath.Base(l), strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
}
