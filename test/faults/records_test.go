package faults_test

import (
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/ledger"
)

// record is what the operator keeps of a message's send beside its status (which a restore
// loses): the send-attempt marker and the activity id. Messages keep it in annotations (before
// the send journal, and when an older version sent them) or in their namespace's send journal.
type record struct {
	marker, activityID string
	// result: Teams' answer was recorded (an activity id, or accepted without one).
	result bool
	where  string
}

// sendJournal reads the namespace's send journal with the ledger's ReadJournal (entries as they
// are: the manager checks the ids' proof, the tests compare the ids with Teams), and the
// journal's ConfigMaps' data as stored. Each message has one entry at most: a key is updated in
// the shard that holds it.
func (s *suite) sendJournal(g Gomega) (entries map[string]ledger.Entry, raw []map[string]string) {
	entries, err := ledger.ReadJournal(s.ctx, s.c, ns)
	g.Expect(err).NotTo(HaveOccurred())
	list := &corev1.ConfigMapList{}
	g.Expect(s.c.List(s.ctx, list, client.InNamespace(ns), client.HasLabels{ledger.JournalLabel})).To(Succeed())
	keys := map[string]string{}
	for _, cm := range list.Items {
		raw = append(raw, cm.Data)
		for name := range cm.Data {
			g.Expect(keys).NotTo(HaveKey(name), "%s: one journal entry per message (%s)", name, cm.Name)
			keys[name] = cm.Name
		}
	}
	g.Expect(entries).To(HaveLen(len(keys)), "every journal entry parses")
	return entries, raw
}

// recordOf is m's record as the ledger reads it: annotations first, then the journal entry of
// m's UID (an entry of another UID belongs to an earlier object of that name).
func recordOf(m teamsv1alpha1.ProactiveMessage, journal map[string]ledger.Entry) record {
	marker, marked := m.Annotations[teamsv1alpha1.SendAttemptAnnotation]
	id, result := m.Annotations[teamsv1alpha1.ActivityIDAnnotation]
	if marked || result {
		return record{marker: marker, activityID: id, result: result, where: "annotations"}
	}
	e, ok := journal[m.Name]
	if !ok || e.UID != m.UID {
		return record{}
	}
	return record{marker: e.Marker, activityID: e.ActivityID, result: e.HasIDs(), where: "journal"}
}

// sendRecords returns every message's record once each Delivered message's result is recorded:
// the journal writes a delivery's ids shortly after its status (and retries while the API
// server is away). lost are the messages whose ids only status holds because the manager died
// before writing them (a finished message is never written again); they may stay without.
func (s *suite) sendRecords(msgs map[string]teamsv1alpha1.ProactiveMessage, lost map[string]bool) map[string]record {
	s.t.Helper()
	var out map[string]record
	s.g.Eventually(func(g Gomega) {
		journal, _ := s.sendJournal(g)
		out = map[string]record{}
		var missing []string
		for n, m := range msgs {
			out[n] = recordOf(m, journal)
			if m.Status.Phase == teamsv1alpha1.PhaseDelivered && !out[n].result && !lost[n] {
				missing = append(missing, n)
			}
		}
		g.Expect(missing).To(BeEmpty(), "Delivered messages whose ids are in neither annotations nor the journal")
	}).WithTimeout(2 * time.Minute).WithPolling(300 * time.Millisecond).Should(Succeed())
	where := map[string]int{}
	for _, r := range out {
		where[r.where]++
	}
	s.t.Logf("records of %d messages: %d in the send journal, %d in annotations, %d in neither",
		len(out), where["journal"], where["annotations"], where[""])
	return out
}
