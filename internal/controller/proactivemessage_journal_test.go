package controller_test

import (
	"encoding/json"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/controller"
	"github.com/teams-operator/teams-operator/internal/ledger"
)

// suiteProofKey is the manager's delivery proof key (--annotation-key-file): specs sign what
// an older version or a backup would hold with it.
var suiteProofKey = []byte("the controller suite's delivery proof key")

// pmJournal is what the send journal of ns holds, as the API server has it.
func pmJournal(g Gomega, ns string) map[string]ledger.Entry {
	entries, err := ledger.ReadJournal(ctx, k8sClient, ns)
	g.Expect(err).NotTo(HaveOccurred())
	return entries
}

// pmJournalEntry waits until the journal holds ids for name and returns its entry.
func pmJournalEntry(ns, name string) ledger.Entry {
	var e ledger.Entry
	Eventually(func(g Gomega) {
		e = pmJournal(g, ns)[name]
		g.Expect(e.HasIDs()).To(BeTrue(), "%+v", e)
	}).WithTimeout(pmTimeout).Should(Succeed())
	return e
}

// pmJournalWrites counts the manager's writes to ConfigMaps of ns (the journal's, for messages
// that are not broadcasts).
func pmJournalWrites(ns string) int {
	writes.mu.Lock()
	defer writes.mu.Unlock()
	n := 0
	for path, c := range writes.counts {
		if strings.HasPrefix(path, "/api/v1/namespaces/"+ns+"/configmaps") {
			n += c
		}
	}
	return n
}

// pmWriteJournal writes entries into shard 0 of ns as someone other than the manager would (a
// restore, another manager), creating it if needed.
func pmWriteJournal(ns string, entries map[string]ledger.Entry) {
	data := map[string]string{}
	for name, e := range entries {
		raw, err := json.Marshal(e)
		Expect(err).NotTo(HaveOccurred())
		data[name] = string(raw)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ledger.ShardName(0),
		Labels: map[string]string{ledger.JournalLabel: ledger.JournalVersion}}, Data: data}
	err := k8sClient.Create(ctx, cm)
	if apierrors.IsAlreadyExists(err) {
		body, jerr := json.Marshal(map[string]any{"data": data})
		Expect(jerr).NotTo(HaveOccurred())
		err = k8sClient.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ledger.ShardName(0)}},
			client.RawPatch(types.MergePatchType, body))
	}
	Expect(err).NotTo(HaveOccurred())
}

// pmDeleteAndForget deletes a message and waits until it is gone and the manager pruned its
// journal entry.
func pmDeleteAndForget(msg *teamsv1alpha1.ProactiveMessage) {
	Expect(k8sClient.Delete(ctx, msg)).To(Succeed())
	Eventually(func(g Gomega) {
		err := k8sClient.Get(ctx, client.ObjectKeyFromObject(msg), &teamsv1alpha1.ProactiveMessage{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
		g.Expect(pmJournal(g, msg.Namespace)).NotTo(HaveKey(msg.Name), "the journal does not keep deleted messages")
	}).WithTimeout(pmTimeout).Should(Succeed())
}

var _ = Describe("ProactiveMessage send journal", func() {
	var ns string

	BeforeEach(func() {
		ns = newNamespace()
	})

	It("restores a delivered message from the journal without sending it again, and edits it", func() {
		chatID := pmPersonalTarget(ns, "restored")
		pmMessage(ns, "restored", "restored", nil)
		sent := pmEventuallyPhase(ns, "restored", teamsv1alpha1.PhaseDelivered)
		backup := pmJournalEntry(ns, "restored")
		Expect(backup.ActivityID).To(Equal(sent.Status.ActivityID))
		pmDeleteAndForget(sent)

		// As a backup of the namespace restores it: the journal's ConfigMap with the entry, then
		// the message with the same name and spec, no status and a new uid.
		pmWriteJournal(ns, map[string]ledger.Entry{"restored": backup})
		Expect(k8sClient.Create(ctx, &teamsv1alpha1.ProactiveMessage{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "restored"}, Spec: sent.Spec})).To(Succeed())
		msg := pmEventuallyPhase(ns, "restored", teamsv1alpha1.PhaseDelivered)
		Expect(msg.UID).NotTo(Equal(sent.UID))
		Expect(msg.Status.ActivityID).To(Equal(sent.Status.ActivityID))
		Expect(msg.Status.ConversationID).To(Equal(chatID))
		Consistently(func() []string { return pmActivityIDs(chatID) }).WithTimeout(2 * time.Second).
			Should(Equal([]string{sent.Status.ActivityID}))

		By("editing the restored message in Teams")
		Eventually(func(g Gomega) {
			m := pmGet(g, ns, "restored")
			base := m.DeepCopy()
			m.Spec.Text = "Edited after the restore"
			g.Expect(k8sClient.Patch(ctx, m, client.MergeFrom(base))).To(Succeed())
		}).WithTimeout(pmTimeout).Should(Succeed())
		Eventually(func(g Gomega) {
			live := pmLive(chatID)
			g.Expect(live).To(HaveLen(1))
			g.Expect(pmActivity(live[0])).To(HaveKeyWithValue("text", "Edited after the restore"))
		}).WithTimeout(pmTimeout).Should(Succeed())
	})

	It("honours a message an older version recorded in annotations", func() {
		chatID := pmPersonalTarget(ns, "legacy")
		pmMessage(ns, "legacy", "legacy", nil)
		sent := pmEventuallyPhase(ns, "legacy", teamsv1alpha1.PhaseDelivered)
		pmDeleteAndForget(sent)

		// As an older version left it, restored without status: the ids and their proof in
		// annotations, nothing in the journal.
		msg := &teamsv1alpha1.ProactiveMessage{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "legacy"}, Spec: sent.Spec}
		msg.Annotations = map[string]string{
			teamsv1alpha1.SendAttemptAnnotation:    time.Now().UTC().Format(time.RFC3339Nano),
			teamsv1alpha1.ActivityIDAnnotation:     sent.Status.ActivityID,
			teamsv1alpha1.ConversationIDAnnotation: chatID,
			teamsv1alpha1.DeliveryProofAnnotation: controller.SignDeliveryProof(suiteProofKey, msg, chatID,
				sent.Status.ActivityID),
		}
		Expect(k8sClient.Create(ctx, msg)).To(Succeed())
		restored := pmEventuallyPhase(ns, "legacy", teamsv1alpha1.PhaseDelivered)
		Expect(restored.Status.ActivityID).To(Equal(sent.Status.ActivityID))
		Consistently(func() []string { return pmActivityIDs(chatID) }).WithTimeout(2 * time.Second).
			Should(Equal([]string{sent.Status.ActivityID}))
	})

	It("decides a marker without ids another manager left: Unknown under AtMostOnce, sent again under AtLeastOnce", func() {
		uids := map[string]types.UID{}
		for _, name := range []string{"at-most", "at-least"} {
			m := pmMessage(ns, name, "later", func(s *teamsv1alpha1.ProactiveMessageSpec) {
				if name == "at-least" {
					s.DeliveryGuarantee = teamsv1alpha1.AtLeastOnce
				}
			})
			uids[name] = m.UID
			// Waiting for its target: the manager has read the namespace's (empty) journal.
			Eventually(func(g Gomega) {
				g.Expect(pmGet(g, ns, name).Status.Phase).To(Equal(teamsv1alpha1.PhasePending))
			}).WithTimeout(pmTimeout).Should(Succeed())
		}
		// As a manager that stopped after writing the markers leaves the journal.
		marker := time.Now().UTC().Format(time.RFC3339Nano)
		pmWriteJournal(ns, map[string]ledger.Entry{
			"at-most":  {UID: uids["at-most"], Target: "later", Marker: marker},
			"at-least": {UID: uids["at-least"], Target: "later", Marker: marker},
		})
		chatID := pmPersonalTarget(ns, "later")
		unknown := pmEventuallyPhase(ns, "at-most", teamsv1alpha1.PhaseUnknown)
		Expect(pmReady(unknown).Reason).To(Equal(teamsv1alpha1.DeliveryUnknownReason))
		resent := pmEventuallyPhase(ns, "at-least", teamsv1alpha1.PhaseDelivered)
		Consistently(func() []string { return pmActivityIDs(chatID) }).WithTimeout(2 * time.Second).
			Should(Equal([]string{resent.Status.ActivityID}))
		Expect(pmJournal(Default, ns)["at-most"].Marker).To(Equal(marker), "the evidence stays")
	})

	It("sends nothing while the journal refuses the marker, says why, and sends once it is fixed", func() {
		chatID := pmPersonalTarget(ns, "refused")
		immutable := true
		shard := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ledger.ShardName(0),
			Labels: map[string]string{ledger.JournalLabel: ledger.JournalVersion}}, Immutable: &immutable}
		Expect(k8sClient.Create(ctx, shard)).To(Succeed())
		pmMessage(ns, "refused", "refused", nil)
		Eventually(func(g Gomega) {
			ready := pmReady(pmGet(g, ns, "refused"))
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).To(Equal(teamsv1alpha1.SendJournalUnavailableReason))
			g.Expect(ready.Message).To(ContainSubstring("ConfigMap " + ns + "/" + ledger.ShardName(0)))
		}).WithTimeout(pmTimeout).Should(Succeed())
		Consistently(func() []string { return pmActivityIDs(chatID) }).WithTimeout(2 * time.Second).Should(BeEmpty())

		Expect(k8sClient.Delete(ctx, shard)).To(Succeed())
		msg := pmEventuallyPhase(ns, "refused", teamsv1alpha1.PhaseDelivered)
		Expect(pmActivityIDs(chatID)).To(Equal([]string{msg.Status.ActivityID}))
	})

	It("does not trust ids in the journal that the operator did not record for this message", func() {
		chatID := pmPersonalTarget(ns, "shared")
		pmMessage(ns, "victim", "shared", nil)
		victim := pmEventuallyPhase(ns, "victim", teamsv1alpha1.PhaseDelivered)
		stolen := pmJournalEntry(ns, "victim")
		// A tenant copies the victim's entry (ids and proof) to another message's name.
		stolen.UID = ""
		pmWriteJournal(ns, map[string]ledger.Entry{"copy": stolen})
		pmMessage(ns, "copy", "shared", nil)
		copied := pmEventuallyPhase(ns, "copy", teamsv1alpha1.PhaseDelivered)
		Expect(copied.Status.ActivityID).NotTo(Equal(victim.Status.ActivityID), "sent as a message of its own")
		Expect(pmActivityIDs(chatID)).To(ConsistOf(victim.Status.ActivityID, copied.Status.ActivityID))
	})
})

// pmActivityIDs lists the ids of the activities Teams holds in a conversation.
func pmActivityIDs(conversationID string) []string {
	ids := []string{}
	for _, a := range pmLive(conversationID) {
		ids = append(ids, a.ActivityID)
	}
	return ids
}
