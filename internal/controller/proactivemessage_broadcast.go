package controller

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/broadcast"
	"github.com/teams-operator/teams-operator/internal/delivery"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/outcome"
	"github.com/teams-operator/teams-operator/internal/ratelimit"
	"github.com/teams-operator/teams-operator/internal/status"
)

// A broadcast is a ProactiveMessage to an audience target: one 1:1 message per person. Each
// reconcile sends for a budget of time: people are written to their chunk as Sending before
// their POSTs, at most a batch of them at once, and the next people's marker is written while
// the ones before are still being sent (broadcast.Pipeline), so a crash leaves at most one
// batch's worth Sending, which the next reconcile turns Unknown (AtMostOnce) or Pending again
// (AtLeastOnce). Chunks are ConfigMaps owned by the message (internal/broadcast, docs/broadcast.md).

// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;create;update
// +kubebuilder:rbac:groups=teams.operator.dev,resources=conversationtargets/status,verbs=get;patch

// Broadcast defaults.
const (
	// DefaultBroadcastBatch is the most people written as Sending at once: the most a crash can
	// leave Unknown, and about a write per this many people (less the people in flight).
	DefaultBroadcastBatch = 250
	// DefaultBroadcastBudget is about how long one reconcile sends before it writes status and
	// yields its worker. A suspend, an edit or a delete is seen before each marker, within a
	// batch; each budget's end costs a status patch, a chunk write and a marker (and a pause of
	// the sends while the next reconcile starts), so a longer budget writes less per person.
	DefaultBroadcastBudget = 60 * time.Second
	// broadcastBatchTimeout bounds the sends handed out after the budget, limiter waits included.
	broadcastBatchTimeout = 2 * time.Minute
	// maxSampleFailures is status.broadcast.sampleFailures' bound.
	maxSampleFailures = 5
	// conversationMemory bounds the 1:1 conversations remembered across broadcasts.
	conversationMemory = 200000
)

// BroadcastOptions tune broadcasts; zero values take the defaults.
type BroadcastOptions struct {
	// Batch is DefaultBroadcastBatch; Budget DefaultBroadcastBudget; Workers the people in flight
	// at once (broadcast.DefaultWorkers).
	Batch   int
	Budget  time.Duration
	Workers int
	// OptOuts skips people who opted out of the bot (the bot endpoint's record); nil: none.
	OptOuts broadcast.OptOuts
}

// broadcaster is what the reconciler keeps for broadcasts between reconciles.
type broadcaster struct {
	once  sync.Once
	store *broadcast.Store
	convs *broadcast.Conversations
}

func (r *ProactiveMessageReconciler) broadcasts() *broadcaster {
	r.bcast.once.Do(func() {
		key := r.ProofKey
		if len(key) == 0 {
			key = make([]byte, 32)
			_, _ = rand.Read(key) // records are then trusted for edits and deletes until a restart
		}
		r.bcast.store = &broadcast.Store{Client: r.Client, Reader: r.APIReader, Key: key}
		r.bcast.convs = broadcast.NewConversations(conversationMemory)
	})
	return &r.bcast
}

// isBroadcast: the message started a broadcast, or its target is an audience.
func (r *ProactiveMessageReconciler) isBroadcast(ctx context.Context, msg *teamsv1alpha1.ProactiveMessage) bool {
	if msg.Status.Broadcast != nil {
		return true
	}
	target := &teamsv1alpha1.ConversationTarget{}
	err := r.Get(ctx, client.ObjectKey{Namespace: msg.Namespace, Name: msg.Spec.TargetRef.Name}, target)
	return err == nil && target.Spec.Audience != nil
}

// reconcileBroadcast moves a broadcast on: delete (and remove the copies), edit the copies of a
// finished one, or start and send.
func (r *ProactiveMessageReconciler) reconcileBroadcast(ctx context.Context, s *messageScope) (ctrl.Result, error) {
	msg := s.msg
	if msg.Status.Broadcast == nil {
		msg.Status.Broadcast = &teamsv1alpha1.BroadcastStatus{}
	}
	ctx = ratelimit.WithTurn(ctx, r.broadcastTurn(ctx, msg))
	if stale, err := r.isStale(ctx, msg); err != nil || stale {
		return r.apply(ctx, s, r.broadcastStale(ctx, s, err))
	}
	switch {
	case !msg.DeletionTimestamp.IsZero():
		return r.apply(ctx, s, r.broadcastDelete(ctx, s))
	case msg.Status.Broadcast.FinishedAt != nil:
		return r.apply(ctx, s, outcome.Run(ctx, s, r.broadcastTarget, r.connect, r.broadcastEdit, r.collect))
	}
	return r.apply(ctx, s, outcome.Run(ctx, s,
		r.validate,         // the content, as for one message
		r.broadcastExpiry,  // expiresAt: the rest is not sent
		r.broadcastTarget,  // the audience target must be Ready
		r.checkSendAt,      // sendAt applies to the whole broadcast
		r.broadcastSuspend, // spec.suspend holds it before the next batch
		r.connect,
		r.broadcastStart, // read the audience once, write the chunks
		r.broadcastSend,
		r.broadcastSummary,
	))
}

// broadcastStaleWait is how soon a broadcast that started from an outdated cache looks again.
const broadcastStaleWait = 50 * time.Millisecond

// broadcastStale ends a reconcile that started from a cache behind the API server, writing
// nothing. A broadcast writes its counts after each budget and its next reconcile starts a
// moment later; a status patch is the difference from the object read at the start, so one
// computed from a version before that write would leave the old counts in place (pending
// people beside finishedAt). The message's own write wakes no reconcile, so it looks again soon.
func (r *ProactiveMessageReconciler) broadcastStale(ctx context.Context, s *messageScope, err error) error {
	if apierrors.IsNotFound(err) { // deleted meanwhile: nothing left to do
		s.stale = true
		return nil
	}
	if err != nil {
		return err
	}
	ctrl.LoggerFrom(ctx).V(1).Info("Cache is behind the API server, looking again shortly")
	s.stale = true
	return outcome.Requeue(broadcastStaleWait)
}

// broadcastTurn is how a broadcast's requests wait at the app limiter: Bulk, behind every
// Normal and High message, unless the broadcast itself asks for High; within Bulk, the
// namespaces share the rate fairly (internal/ratelimit).
func (r *ProactiveMessageReconciler) broadcastTurn(ctx context.Context, m *teamsv1alpha1.ProactiveMessage) ratelimit.Turn {
	t := r.messageTurn(ctx, m)
	if t.Priority != ratelimit.High {
		t.Priority = ratelimit.Bulk
	}
	return t
}

// broadcastTarget finds the audience target; it needs no conversation of its own.
func (r *ProactiveMessageReconciler) broadcastTarget(ctx context.Context, s *messageScope) error {
	name := s.msg.Spec.TargetRef.Name
	target := &teamsv1alpha1.ConversationTarget{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: s.msg.Namespace, Name: name}, target); err != nil {
		if apierrors.IsNotFound(err) {
			return s.wait(teamsv1alpha1.DependencyNotReadyReason, fmt.Sprintf(
				"ConversationTarget %q not found: create it; the broadcast starts once it is Ready", name))
		}
		return fmt.Errorf("getting ConversationTarget %s: %w", name, err)
	}
	if target.Spec.Audience == nil {
		return s.fail(teamsv1alpha1.InvalidSpecReason, fmt.Sprintf(
			"ConversationTarget %q is no longer an audience; this message was a broadcast", name))
	}
	// A ReachPolicy refuses a broadcast that has not started as it refuses its target (also one
	// made since the target was Ready); one that started finishes as the policy was then.
	if st := s.msg.Status.Broadcast; st == nil || st.StartedAt == nil {
		refusal, err := reachRefusal(ctx, r.Client, r.Reach, target)
		if err != nil {
			return err
		}
		if refusal != nil {
			return s.blocked(refusal.Reason, fmt.Sprintf("ConversationTarget %q: %s", name, refusal.Message))
		}
	}
	if !status.IsReady(target) {
		return s.wait(teamsv1alpha1.DependencyNotReadyReason, fmt.Sprintf(
			"ConversationTarget %q is not Ready; the broadcast starts once it is", name))
	}
	s.target = target
	return nil
}

// broadcastExpiry: past expiresAt nobody else gets the message.
func (r *ProactiveMessageReconciler) broadcastExpiry(ctx context.Context, s *messageScope) error {
	exp := s.msg.Spec.ExpiresAt
	if exp == nil || time.Now().Before(exp.Time) {
		return nil
	}
	if s.msg.Status.Broadcast.StartedAt == nil {
		return r.checkExpiry(ctx, s) // nothing was sent: Expired, like one message
	}
	if err := r.settleRest(ctx, s, broadcast.ReasonExpired); err != nil {
		return err
	}
	return r.broadcastSummary(ctx, s)
}

// broadcastSuspend holds a suspended broadcast; a spec change (suspend: false) resumes it.
func (r *ProactiveMessageReconciler) broadcastSuspend(_ context.Context, s *messageScope) error {
	if !s.msg.Spec.Suspend {
		return nil
	}
	if s.msg.Status.Phase == "" {
		s.msg.Status.Phase = teamsv1alpha1.PhasePending
	}
	status.MarkReady(s.msg, teamsv1alpha1.SuspendedReason, fmt.Sprintf(
		"Suspended (spec.suspend) after %s people; set suspend to false to go on", s.msg.Status.Broadcast.Progress))
	return outcome.Requeue(s.untilExpiry())
}

// broadcastStart reads the audience and writes the chunks, once: chunks that exist (found past
// the cache) mean it started.
func (r *ProactiveMessageReconciler) broadcastStart(ctx context.Context, s *messageScope) error {
	msg := s.msg
	b := r.broadcasts()
	counts, chunks, err := b.store.Counts(ctx, msg)
	if err != nil {
		return err
	}
	if chunks > 0 { // started: the chunks, read past the cache, say how far (status may lag)
		msg.Status.Broadcast.Chunks, msg.Status.Broadcast.Audience = count32(chunks), count32(counts.Total())
		return nil
	}
	if msg.Spec.DeletionPolicy == teamsv1alpha1.MessageDeletionPolicyDelete && !controllerutil.ContainsFinalizer(msg, teamsv1alpha1.Finalizer) {
		controllerutil.AddFinalizer(msg, teamsv1alpha1.Finalizer)
		if err := s.patcher.PatchMetadataLocked(ctx, msg); err != nil {
			return fmt.Errorf("persisting the finalizer: %w", err)
		}
	}
	a := s.target.Spec.Audience
	// A ReachPolicy's maxAudience below the target's own limit stops the read there.
	limit, policies, err := audienceCap(ctx, r.Reach, msg.Namespace, audienceLimit(a))
	if err != nil {
		return err
	}
	people, err := broadcast.Read(ctx, broadcast.Source{Audience: a, Graph: s.clients.Graph, Bot: s.clients.Bot,
		ServiceURL: s.serviceURL, Max: limit})
	if errors.Is(err, broadcast.ErrTooLarge) && limit < audienceLimit(a) {
		refusal := policies.CheckAudience(limit + 1)
		return s.fail(refusal.Reason, fmt.Sprintf("Not sent: %s has more than %d people, the most ReachPolicy %q "+
			"allows: narrow the audience, or ask the platform team", audienceWords(a), limit, refusal.Policy))
	}
	if err != nil {
		return r.audienceFailure(ctx, s, err)
	}
	hash := delivery.Hash(s.activity)
	for i := 0; i*broadcast.ChunkSize < len(people) || i == 0; i++ {
		part := people[i*broadcast.ChunkSize : min((i+1)*broadcast.ChunkSize, len(people))]
		if err := b.store.Create(ctx, msg, &broadcast.Chunk{Index: i, People: part, Hash: hash}); err != nil {
			return fmt.Errorf("writing chunk %d of the broadcast: %w", i, err)
		}
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	st := msg.Status.Broadcast
	st.Audience, st.StartedAt = count32(len(people)), &now
	st.Chunks = count32(max(1, (len(people)+broadcast.ChunkSize-1)/broadcast.ChunkSize))
	msg.Status.ContentHash = hash
	ctrl.LoggerFrom(ctx).Info("Broadcast started", "audience", len(people), "chunks", st.Chunks)
	return r.recordAudience(ctx, s, len(people), now)
}

// recordAudience writes the audience's size and read time into the target's status (a merge
// patch of that field only: the target's own controller owns the rest).
func (r *ProactiveMessageReconciler) recordAudience(ctx context.Context, s *messageScope, size int, at metav1.Time) error {
	before := s.target.DeepCopy()
	s.target.Status.Audience = &teamsv1alpha1.AudienceStatus{Size: count32(size), ReadAt: &at, ReadBy: s.msg.Name}
	if err := r.Status().Patch(ctx, s.target, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
		ctrl.LoggerFrom(ctx).Info("Could not record the audience size on the target", "error", err.Error())
	}
	return nil
}

// audienceFailure turns a failed audience read into a condition.
func (r *ProactiveMessageReconciler) audienceFailure(ctx context.Context, s *messageScope, err error) error {
	a := s.target.Spec.Audience
	c := msapi.Classify(err)
	switch {
	case errors.Is(err, broadcast.ErrTooLarge):
		return s.fail(teamsv1alpha1.AudienceTooLargeReason, fmt.Sprintf("Not sent: %s has more than %d people "+
			"(audience.maxSize of ConversationTarget %q)", audienceWords(a), audienceLimit(a), s.target.Name))
	case c.Reason == msapi.ReasonNotFound || c.Reason == msapi.ReasonConversationNotFound:
		return s.fail(teamsv1alpha1.AudienceNotFoundReason, fmt.Sprintf("Not sent: %s was not found: %v",
			audienceWords(a), err))
	case c.Reason == msapi.ReasonBotNotInRoster:
		return s.fail(teamsv1alpha1.BotNotInRosterReason, fmt.Sprintf("Not sent: the bot cannot read the roster of %s: "+
			"install the app in the team (a TeamsAppInstallation in team scope), then change or recreate this message",
			audienceWords(a)))
	case c.Reason == msapi.ReasonPermissionDenied:
		return s.fail(teamsv1alpha1.PermissionDeniedReason, fmt.Sprintf("Not sent: Graph refused to list %s: "+
			"grant the application permission GroupMember.Read.All (and User.Read.All for user names)", audienceWords(a)))
	case c.Retry:
		s.msg.Status.Phase = teamsv1alpha1.PhasePending
		return outcome.RetryIn(teamsv1alpha1.ProgressingWithRetryReason, "Reading the audience failed; trying again: "+
			err.Error(), outcome.RetryWait(c.After, 1))
	}
	ctrl.LoggerFrom(ctx).Info("Reading the audience failed", "error", err.Error())
	return s.fail(teamsv1alpha1.SendFailedReason, "Not sent: reading the audience failed: "+err.Error())
}

// options are the broadcast options with defaults.
func (r *ProactiveMessageReconciler) options() BroadcastOptions {
	o := r.Broadcast
	if o.Batch <= 0 {
		o.Batch = DefaultBroadcastBatch
	}
	if o.Budget <= 0 {
		o.Budget = DefaultBroadcastBudget
	}
	return o
}

// sender is the fan-out of this message.
func (r *ProactiveMessageReconciler) sender(s *messageScope) *broadcast.Sender {
	o := r.options()
	snd := &broadcast.Sender{Bot: s.clients.Bot, Graph: s.clients.Graph, AppID: s.clients.AppID, TenantID: s.tenantID,
		ServiceURL: s.serviceURL, Activity: s.activity, Guarantee: s.msg.Spec.DeliveryGuarantee,
		OptOuts: o.OptOuts, Conversations: r.broadcasts().convs, Workers: o.Workers}
	if im := s.target.Spec.Audience.InstallMissing; im != nil {
		snd.InstallApp = im.TeamsAppID
	}
	return snd
}

// broadcastOptOuts drops the opt-out check of a broadcast that sets spec.ignoreOptOut in a
// namespace the manager allows to (--opt-out-override-namespace-selector), as for one message.
func (r *ProactiveMessageReconciler) broadcastOptOuts(ctx context.Context, s *messageScope, snd *broadcast.Sender) error {
	if snd.OptOuts == nil || !s.msg.Spec.IgnoreOptOut || r.OptOut == nil {
		return nil
	}
	allowed, err := r.OptOut.overrideAllowed(ctx, s.msg.Namespace)
	if err != nil {
		return err
	}
	if allowed {
		snd.OptOuts = nil
	}
	return nil
}

// broadcastSend sends until everyone is accounted for or the budget is spent, without
// stopping between batches: the next batch's marker is written while the people before it
// are still being sent, and at most Batch people are written Sending at any moment
// (broadcast.Pipeline), so a crash leaves at most one batch's worth Unknown.
func (r *ProactiveMessageReconciler) broadcastSend(ctx context.Context, s *messageScope) error {
	o := r.options()
	deadline := time.Now().Add(o.Budget)
	snd := r.sender(s)
	if err := r.broadcastOptOuts(ctx, s, snd); err != nil {
		return err
	}
	s.msg.Status.Phase = teamsv1alpha1.PhaseSending
	store := r.broadcasts().store
	hash := delivery.Hash(s.activity)
	// The sends handed out finish even if the manager stops (their results are then written),
	// within broadcastBatchTimeout of the end of the budget.
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.Budget+broadcastBatchTimeout)
	defer cancel()
	p := &broadcast.Pipeline{
		Sender: snd, Batch: o.Batch, Chunks: int(s.msg.Status.Broadcast.Chunks), SendContext: sendCtx, Until: deadline,
		Load: func(ctx context.Context, i int) (*broadcast.Chunk, int, error) {
			c, err := store.Load(ctx, s.msg, i)
			if err != nil {
				return nil, 0, fmt.Errorf("reading chunk %d of the broadcast: %w", i, err)
			}
			settled := r.settleSending(ctx, s, c)
			if c.Hash != hash && countState(c, broadcast.Delivered) == 0 {
				c.Hash = hash // nobody has the older content yet
			}
			return c, settled, nil
		},
		Save: func(ctx context.Context, c *broadcast.Chunk) error {
			saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), patchTimeout)
			defer cancel()
			if err := store.Save(saveCtx, s.msg, c); err != nil {
				return fmt.Errorf("writing chunk %d of the broadcast: %w", c.Index, err)
			}
			return nil
		},
		Stale: apierrors.IsConflict,
		More: func(ctx context.Context) bool {
			return time.Now().Before(deadline) && r.stillWanted(ctx, s)
		},
	}
	res, err := p.Run(ctx)
	people := make([]*broadcast.Person, len(res.Samples))
	for i := range res.Samples {
		people[i] = &res.Samples[i]
	}
	sampleFailures(s.msg.Status.Broadcast, people)
	switch {
	case apierrors.IsConflict(err):
		return outcome.Requeue(time.Second) // another reconcile (a stale one) wrote a chunk: read it again
	case err != nil:
		return err
	case ctx.Err() != nil:
		return outcome.Requeue(time.Millisecond)
	}
	return nil // broadcastSummary writes the counts so far and comes back while anyone is pending
}

// stillWanted looks past the cache before a batch: a deleted, suspended or changed message
// sends no further batch in this reconcile (deletion cancels the rest within one batch).
func (r *ProactiveMessageReconciler) stillWanted(ctx context.Context, s *messageScope) bool {
	fresh := &teamsv1alpha1.ProactiveMessage{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(s.msg), fresh); err != nil {
		return false
	}
	return fresh.DeletionTimestamp.IsZero() && fresh.Generation == s.msg.Generation && !fresh.Spec.Suspend
}

// settleSending resolves a batch a crash left Sending: Unknown under AtMostOnce (nobody gets
// two copies), Pending again under AtLeastOnce (sent again).
func (r *ProactiveMessageReconciler) settleSending(ctx context.Context, s *messageScope, c *broadcast.Chunk) int {
	n := 0
	for j := range c.People {
		p := &c.People[j]
		if p.State != broadcast.Sending {
			continue
		}
		n++
		if s.msg.Spec.DeliveryGuarantee == teamsv1alpha1.AtLeastOnce {
			p.State = broadcast.Pending
		} else {
			p.State, p.Reason = broadcast.Unknown, broadcast.ReasonOutcomeUnknown
		}
	}
	if n > 0 {
		ctrl.LoggerFrom(ctx).Info("A batch was left Sending by an earlier manager", "chunk", c.Index, "people", n,
			"deliveryGuarantee", s.msg.Spec.DeliveryGuarantee)
	}
	return n
}

// settleRest ends everyone still pending with reason (expired, cancelled).
func (r *ProactiveMessageReconciler) settleRest(ctx context.Context, s *messageScope, reason string) error {
	store := r.broadcasts().store
	for i := range int(s.msg.Status.Broadcast.Chunks) {
		c, err := store.Load(ctx, s.msg, i)
		if err != nil {
			return fmt.Errorf("reading chunk %d of the broadcast: %w", i, err)
		}
		dirty := r.settleSending(ctx, s, c) > 0
		for j := range c.People {
			if p := &c.People[j]; p.State == broadcast.Pending {
				p.State, p.Reason, dirty = broadcast.Skipped, reason, true
			}
		}
		if dirty {
			if err := saveChunk(ctx, store, s, c); err != nil {
				return err
			}
		}
	}
	return nil
}

func saveChunk(ctx context.Context, store *broadcast.Store, s *messageScope, c *broadcast.Chunk) error {
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), patchTimeout)
	defer cancel()
	if err := store.Save(saveCtx, s.msg, c); err != nil {
		if apierrors.IsConflict(err) {
			return outcome.Requeue(time.Second) // another reconcile (a stale one) wrote it: read it again
		}
		return fmt.Errorf("writing chunk %d of the broadcast: %w", c.Index, err)
	}
	return nil
}

func countState(c *broadcast.Chunk, st broadcast.State) int {
	n := 0
	for _, p := range c.People {
		if p.State == st {
			n++
		}
	}
	return n
}

// sampleFailures keeps the first few people a broadcast did not reach.
func sampleFailures(st *teamsv1alpha1.BroadcastStatus, people []*broadcast.Person) {
	for _, p := range people {
		if len(st.SampleFailures) >= maxSampleFailures {
			return
		}
		if p.State != broadcast.Failed && p.State != broadcast.Skipped && p.State != broadcast.Unknown {
			continue
		}
		if slices.ContainsFunc(st.SampleFailures, func(f teamsv1alpha1.PersonFailure) bool { return f.User == p.User }) {
			continue
		}
		st.SampleFailures = append(st.SampleFailures, teamsv1alpha1.PersonFailure{User: p.User, Reason: p.Reason,
			Message: p.State.Outcome()})
	}
}
