package fairshare_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
)

// The broadcasts of TestBroadcastsShareFairly: two namespaces each reach half of a generated
// organisation (its even and its odd users: two disjoint Entra groups) on the cold path (a
// create and a send per person), while the emulator plays Teams' per-app limit at a lower rate
// so that the test stays short. The manager sends just below it, as it does below Teams' 50/s.
const (
	bcEmulatorRPS = 20
	bcSendRPS     = 18
	// bcPeople are split in two audiences of bcPeople/2: about 2*bcPeople/bcSendRPS seconds of
	// sending (~33 s), long enough for the single messages below to land while both run.
	bcPeople = 300
	// bcRounds is how many times a High message (in a broadcasting namespace) and a Normal
	// message (in a third namespace) are created while both broadcasts run.
	bcRounds = 3
	// bcLatency is the bound for a single message created during a broadcast. Waiting
	// behind the broadcasts' queued requests instead (32 per broadcast at the limiter) would
	// take 64/bcSendRPS = 3.6 s here.
	bcLatency = 2 * time.Second
	// bcShareMin and bcShareMax bound each namespace's share of the deliveries while both
	// broadcasts run (an equal weight: half each).
	bcShareMin, bcShareMax = 0.35, 0.65
)

// Namespaces of the test: the two broadcasters, and a third one with one person to reach.
const (
	nsEven, nsOdd, nsOther = "bc-even", "bc-odd", "bc-other"
	evenText, oddText      = "broadcast to the even users", "broadcast to the odd users"
)

// TestBroadcastsShareFairly starts two broadcasts in different namespaces at once and checks
// that they share the app's rate about evenly while both run, and that single messages created
// meanwhile (High in a broadcasting namespace, Normal in a third one) are sent within 2 s and
// ahead of the broadcasts' queued requests (docs/broadcast.md "Fairness and rate").
func TestBroadcastsShareFairly(t *testing.T) {
	people := emulator.GeneratedTenant(emulator.GenerateOptions{Users: bcPeople, BlockedEvery: -1,
		NotInstalledEvery: -1, GuestEvery: -1})
	r := start(t, rigOptions{sendRPS: bcSendRPS, emulatorRPS: bcEmulatorRPS, people: &people})
	g := r.g
	for _, ns := range []string{nsEven, nsOdd, nsOther} {
		r.namespace(ns)
	}
	r.target(nsEven, "on-call", r.users[0])
	r.target(nsOther, "owner", r.users[1])
	r.waitReady(nsEven, 1)
	r.waitReady(nsOther, 1)
	r.audience(nsEven, "even", emulator.GeneratedGroupEvenID)
	r.audience(nsOdd, "odd", emulator.GeneratedGroupOddID)

	r.broadcast(nsEven, "all-even", "even", evenText)
	r.broadcast(nsOdd, "all-odd", "odd", oddText)
	// Both broadcasts are sending: from here on they compete for every slot.
	g.Eventually(func() []int {
		e, o := r.broadcastCounts()
		return []int{e, o}
	}, 2*time.Minute, 50*time.Millisecond).Should(HaveEach(BeNumerically(">=", 5)))

	var singles []single
	for round := range bcRounds {
		high := r.single(nsEven, fmt.Sprint("alert-", round), "on-call", teamsv1alpha1.PriorityHigh)
		normal := r.single(nsOther, fmt.Sprint("note-", round), "owner", teamsv1alpha1.PriorityNormal)
		singles = append(singles, r.delivered(high), r.delivered(normal))
	}
	r.waitFinished(nsEven, "all-even")
	r.waitFinished(nsOdd, "all-odd")

	log := r.emu.Activities()
	lastEven, lastOdd := lastIndex(log, evenText), lastIndex(log, oddText)
	for _, s := range singles {
		t.Logf("%s (%s): sent %s after its create, %d broadcast messages went between", s.name, s.priority,
			s.latency.Round(time.Millisecond), s.between)
		g.Expect(s.at).To(BeNumerically("<", min(lastEven, lastOdd)), "%s was sent while both broadcasts ran", s.name)
		g.Expect(s.latency).To(BeNumerically("<=", bcLatency), "%s waited behind the broadcasts", s.name)
	}

	even, odd := shares(log)
	t.Logf("while both broadcasts ran: %d messages of %s, %d of %s", even, nsEven, odd, nsOdd)
	g.Expect(even+odd).To(BeNumerically(">=", bcPeople/2), "both broadcasts ran together for most of their time")
	share := float64(even) / float64(even+odd)
	g.Expect(share).To(BeNumerically(">=", bcShareMin), "%s's share of the rate", nsEven)
	g.Expect(share).To(BeNumerically("<=", bcShareMax), "%s's share of the rate", nsEven)
	throttled := 0
	for _, e := range r.emu.Requests() {
		if e.Status == 429 {
			throttled++
		}
	}
	t.Logf("429s from the emulator: %d", throttled)
}

// single is what became of one single message.
type single struct {
	name     string
	priority teamsv1alpha1.MessagePriority
	created  time.Time
	text     string
	// mark is how many activities the emulator had when the message was created.
	mark int
	// at is its position in the emulator's log; between counts the broadcast messages sent
	// after its create and before it; latency is from its create to Teams receiving it.
	at, between int
	latency     time.Duration
}

func (r *rig) audience(ns, name, group string) {
	r.g.Expect(r.c.Create(r.ctx, &teamsv1alpha1.ConversationTarget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: teamsv1alpha1.ConversationTargetSpec{Audience: &teamsv1alpha1.AudienceTarget{
			Group: &teamsv1alpha1.GroupAudience{ID: group}}},
	})).To(Succeed())
}

// broadcast creates a message to an audience target (Bulk: a broadcast's default turn).
func (r *rig) broadcast(ns, name, target, text string) {
	r.g.Expect(r.c.Create(r.ctx, &teamsv1alpha1.ProactiveMessage{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       teamsv1alpha1.ProactiveMessageSpec{TargetRef: teamsv1alpha1.LocalObjectReference{Name: target}, Text: text},
	})).To(Succeed())
}

func (r *rig) single(ns, name, target string, p teamsv1alpha1.MessagePriority) single {
	s := single{name: ns + "/" + name, priority: p, text: ns + "/" + name, mark: len(r.emu.Activities()),
		created: time.Now()}
	r.message(ns, name, target, p)
	return s
}

// delivered waits for s to reach Teams and measures it.
func (r *rig) delivered(s single) single {
	var log []emulator.StoredActivity
	r.g.Eventually(func() int {
		log = r.emu.Activities()
		s.at = slices.IndexFunc(log, func(a emulator.StoredActivity) bool { return hasText(a, s.text) })
		return s.at
	}, time.Minute, 20*time.Millisecond).Should(BeNumerically(">=", 0), "%s was sent", s.name)
	s.latency = log[s.at].CreatedAt.Sub(s.created)
	for _, a := range log[s.mark:s.at] {
		if hasText(a, evenText) || hasText(a, oddText) {
			s.between++
		}
	}
	return s
}

// broadcastCounts counts the messages each broadcast has sent.
func (r *rig) broadcastCounts() (even, odd int) { return countBroadcasts(r.emu.Activities()) }

// countBroadcasts counts each broadcast's messages in log.
func countBroadcasts(log []emulator.StoredActivity) (even, odd int) {
	for _, a := range log {
		switch {
		case hasText(a, evenText):
			even++
		case hasText(a, oddText):
			odd++
		}
	}
	return even, odd
}

func (r *rig) waitFinished(ns, name string) {
	r.g.Eventually(func(g Gomega) {
		msg := &teamsv1alpha1.ProactiveMessage{}
		g.Expect(r.c.Get(r.ctx, client.ObjectKey{Namespace: ns, Name: name}, msg)).To(Succeed())
		g.Expect(msg.Status.Broadcast).NotTo(BeNil())
		g.Expect(msg.Status.Broadcast.FinishedAt).NotTo(BeNil(), "progress %s", msg.Status.Broadcast.Progress)
		g.Expect(msg.Status.Broadcast.Delivered).To(BeEquivalentTo(bcPeople / 2))
	}, 5*time.Minute, 200*time.Millisecond).Should(Succeed())
}

// shares counts each broadcast's messages while both ran: from the first message of the later
// one to the last message of the one that finished first.
func shares(log []emulator.StoredActivity) (even, odd int) {
	from := max(firstIndex(log, evenText), firstIndex(log, oddText))
	to := min(lastIndex(log, evenText), lastIndex(log, oddText))
	return countBroadcasts(log[from : to+1])
}

func firstIndex(log []emulator.StoredActivity, text string) int {
	return slices.IndexFunc(log, func(a emulator.StoredActivity) bool { return hasText(a, text) })
}

func lastIndex(log []emulator.StoredActivity, text string) int {
	for i, a := range slices.Backward(log) {
		if hasText(a, text) {
			return i
		}
	}
	return -1
}

// hasText: a message the operator sent (not a user's) with text in it.
func hasText(a emulator.StoredActivity, text string) bool {
	return a.Operation != "" && strings.Contains(string(a.Activity), text)
}
