package controller

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/broadcast"
	"github.com/teams-operator/teams-operator/internal/delivery"
	"github.com/teams-operator/teams-operator/internal/outcome"
	"github.com/teams-operator/teams-operator/internal/status"
)

// broadcastSummary writes the counts into status and finishes the broadcast once nobody is
// pending.
func (r *ProactiveMessageReconciler) broadcastSummary(ctx context.Context, s *messageScope) error {
	counts, chunks, err := r.broadcasts().store.Counts(ctx, s.msg)
	if err != nil {
		return err
	}
	st := s.msg.Status.Broadcast
	setCounts(st, counts)
	st.Audience, st.Chunks = count32(counts.Total()), count32(chunks) // the chunks are the truth; a cached status may lag
	if counts.Pending > 0 {
		s.msg.Status.Phase = teamsv1alpha1.PhaseSending
		status.MarkProgressing(s.msg, teamsv1alpha1.SendingReason, "Sending: "+summaryWords(st))
		return outcome.Requeue(time.Millisecond)
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	st.FinishedAt = &now
	s.msg.Status.DeliveredAt = &now
	if st.Delivered == 0 && st.Audience > 0 {
		s.msg.Status.Phase = teamsv1alpha1.PhaseFailed
		return outcome.Stall(teamsv1alpha1.SendFailedReason, "Nobody was reached: "+summaryWords(st))
	}
	s.msg.Status.Phase = teamsv1alpha1.PhaseDelivered
	status.MarkReady(s.msg, teamsv1alpha1.DeliveredReason, "Broadcast finished: "+summaryWords(st))
	ctrl.LoggerFrom(ctx).Info("Broadcast finished", "delivered", st.Delivered, "skipped", st.Skipped,
		"failed", st.Failed, "unknown", st.Unknown)
	return nil
}

func setCounts(st *teamsv1alpha1.BroadcastStatus, c broadcast.Counts) {
	st.Delivered, st.Failed, st.Skipped = count32(c.Delivered), count32(c.Failed), count32(c.Skipped)
	st.Unknown, st.Pending, st.Removed = count32(c.Unknown), count32(c.Pending), count32(c.Removed)
	st.Progress = fmt.Sprintf("%d/%d", c.Total()-c.Pending, c.Total())
	st.Reasons = st.Reasons[:0]
	for _, k := range slices.Sorted(maps.Keys(c.Reasons)) {
		out, reason, _ := strings.Cut(k, "/")
		if len(st.Reasons) < 32 {
			st.Reasons = append(st.Reasons, teamsv1alpha1.ReasonCount{Outcome: out, Reason: reason, Count: count32(c.Reasons[k])})
		}
	}
}

// summaryWords is the counts in a sentence.
func summaryWords(st *teamsv1alpha1.BroadcastStatus) string {
	var text strings.Builder
	fmt.Fprintf(&text, "%d of %d people delivered", st.Delivered, st.Audience)
	for _, part := range []struct {
		n    int32
		word string
	}{{st.Skipped, "skipped"}, {st.Failed, "failed"}, {st.Unknown, "unknown (not sent again)"}, {st.Pending, "pending"}} {
		if part.n > 0 {
			fmt.Fprintf(&text, ", %d %s", part.n, part.word)
		}
	}
	if len(st.Reasons) > 0 {
		rs := make([]string, 0, len(st.Reasons))
		for _, rc := range st.Reasons {
			rs = append(rs, fmt.Sprintf("%s %d", rc.Reason, rc.Count))
		}
		text.WriteString(" (" + strings.Join(rs, ", ") + ")")
	}
	return text.String()
}

// broadcastEdit edits every delivered copy when the content changed (onUpdate: Edit), a few
// chunks per reconcile, each chunk remembering the content its copies carry.
func (r *ProactiveMessageReconciler) broadcastEdit(ctx context.Context, s *messageScope) error {
	msg := s.msg
	activity, err := delivery.BuildActivity(&msg.Spec)
	if err == nil {
		err = delivery.Validate(&msg.Spec)
	}
	if err != nil {
		return outcome.Stall(teamsv1alpha1.InvalidSpecReason, "The new content cannot be sent: "+err.Error())
	}
	hash := delivery.Hash(activity)
	if hash == msg.Status.ContentHash || msg.Spec.OnUpdate == teamsv1alpha1.OnUpdateIgnore {
		if c := status.ReadyCondition(msg); c != nil && c.Status == metav1.ConditionTrue {
			status.MarkReady(msg, c.Reason, c.Message) // describes this generation too
		}
		return nil
	}
	s.activity = activity
	snd := r.sender(s)
	store := r.broadcasts().store
	deadline := time.Now().Add(r.options().Budget)
	chunks, err := r.chunkCount(ctx, s)
	if err != nil {
		return err
	}
	for i := range chunks {
		c, err := store.Load(ctx, msg, i)
		if err != nil {
			return fmt.Errorf("reading chunk %d of the broadcast: %w", i, err)
		}
		if c.Hash == hash {
			continue
		}
		if time.Now().After(deadline) {
			return outcome.Requeue(time.Millisecond)
		}
		if !c.Trusted {
			r.untrustedChunk(msg, i, "Edit")
		} else if _, err := snd.Edit(ctx, people(c)); err != nil {
			return outcome.Stallf(teamsv1alpha1.EditFailedReason, "Editing the delivered copies failed: %v. "+
				"Some people still see the earlier content", err)
		}
		c.Hash = hash
		if err := saveChunk(ctx, store, s, c); err != nil {
			return err
		}
		msg.Status.Broadcast.Edited += count32(countState(c, broadcast.Delivered))
	}
	msg.Status.ContentHash = hash
	status.MarkReady(msg, teamsv1alpha1.EditedReason, "Every delivered copy was edited: "+summaryWords(msg.Status.Broadcast))
	return nil
}

func people(c *broadcast.Chunk) []*broadcast.Person {
	out := make([]*broadcast.Person, len(c.People))
	for i := range c.People {
		out[i] = &c.People[i]
	}
	return out
}

func (r *ProactiveMessageReconciler) untrustedChunk(msg *teamsv1alpha1.ProactiveMessage, i int, action string) {
	r.Recorder.Eventf(msg, nil, corev1.EventTypeWarning, teamsv1alpha1.UntrustedAnnotationsReason, action,
		"Chunk %d of the broadcast has no valid proof (written by another manager key, or by hand): its copies are "+
			"left as they are in Teams; set --annotation-key-file so the key survives restarts", i)
}

// broadcastDelete cancels the broadcast (a deleted object sends nothing more) and, with
// deletionPolicy Delete, deletes every sent copy at the allowed rate, then lets the object go.
func (r *ProactiveMessageReconciler) broadcastDelete(ctx context.Context, s *messageScope) error {
	msg := s.msg
	if !controllerutil.ContainsFinalizer(msg, teamsv1alpha1.Finalizer) {
		return nil
	}
	target := &teamsv1alpha1.ConversationTarget{}
	err := r.Get(ctx, client.ObjectKey{Namespace: msg.Namespace, Name: msg.Spec.TargetRef.Name}, target)
	if apierrors.IsNotFound(err) || (err == nil && target.Spec.Audience == nil) {
		ctrl.LoggerFrom(ctx).Info("Not deleting the broadcast's copies: its audience target is gone")
		controllerutil.RemoveFinalizer(msg, teamsv1alpha1.Finalizer)
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting ConversationTarget %s: %w", msg.Spec.TargetRef.Name, err)
	}
	s.target = target
	if err := r.connect(ctx, s); err != nil {
		return err
	}
	done, err := r.deleteCopies(ctx, s)
	if err != nil || !done {
		return err
	}
	controllerutil.RemoveFinalizer(msg, teamsv1alpha1.Finalizer)
	return nil
}

// deleteCopies deletes delivered copies chunk by chunk within the budget; done when none is left.
func (r *ProactiveMessageReconciler) deleteCopies(ctx context.Context, s *messageScope) (bool, error) {
	msg := s.msg
	snd := r.sender(s)
	store := r.broadcasts().store
	deadline := time.Now().Add(r.options().Budget)
	chunks, err := r.chunkCount(ctx, s)
	if err != nil {
		return false, err
	}
	for i := range chunks {
		c, err := store.Load(ctx, msg, i)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("reading chunk %d of the broadcast: %w", i, err)
		}
		r.settleSending(ctx, s, c)
		if countState(c, broadcast.Delivered) == 0 {
			continue
		}
		if time.Now().After(deadline) {
			return false, outcome.Requeue(time.Millisecond)
		}
		if !c.Trusted {
			r.untrustedChunk(msg, i, "Delete")
			continue
		}
		n, err := snd.Delete(ctx, people(c))
		msg.Status.Broadcast.Removed += count32(n)
		if serr := saveChunk(ctx, store, s, c); serr != nil {
			return false, serr
		}
		if err != nil {
			return false, outcome.RetryErr(teamsv1alpha1.DeletingReason, "Deleting the broadcast's copies in Teams", err)
		}
	}
	return true, nil
}

// chunkCount is how many chunks the broadcast has, read past the cache.
func (r *ProactiveMessageReconciler) chunkCount(ctx context.Context, s *messageScope) (int, error) {
	_, n, err := r.broadcasts().store.Counts(ctx, s.msg)
	return n, err
}

// count32 is a count for status (they are bounded by audience.maxSize, far below int32's range).
func count32(n int) int32 { return int32(min(max(n, 0), math.MaxInt32)) } //nolint:gosec // clamped just before
