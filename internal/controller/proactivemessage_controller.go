package controller

import (
	"context"
	"errors"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/ledger"
	"github.com/teams-operator/teams-operator/internal/outcome"
	"github.com/teams-operator/teams-operator/internal/policy"
	"github.com/teams-operator/teams-operator/internal/ratelimit"
	"github.com/teams-operator/teams-operator/internal/status"
)

// DefaultMessageWorkers is how many ProactiveMessages are reconciled at once by default. The
// Connector client's limiters keep the request rate within Teams' limits whatever this is, and
// the app limiter orders the waiting requests by priority and namespace, so more workers cost
// no fairness. A delivery holds its worker for about 340 ms on a quiet machine (the Connector
// call, the send journal's marker, the status patch and the limiter's wait), so 16 workers
// could not keep 50 requests per second going (46.8/s measured); with 32 a worker waits at the
// app limiter more than half of its reconcile and the limiter sets the pace
// (docs/performance.md, "The rate goal").
const DefaultMessageWorkers = 32

const (
	// sendTimeout bounds one send, rate limiter waits included. A send is not cancelled
	// when the manager stops: a request cut off after it was written would leave an
	// unknown outcome, so the manager's graceful shutdown lets it finish.
	sendTimeout = 30 * time.Second
	// patchTimeout bounds the write of the send-attempt marker.
	patchTimeout = 10 * time.Second
)

// ProactiveMessageReconciler sends each ProactiveMessage once, records the Teams ids and the
// delivery state, edits the message when its content changes and deletes it on request.
type ProactiveMessageReconciler struct {
	client.Client
	// APIReader reads past the cache. It confirms that a send-attempt marker without a
	// result is really the latest state, not a cache that has not seen the result yet,
	// before a message is declared Unknown.
	APIReader          client.Reader
	Recorder           events.EventRecorder
	Clients            ClientFactory
	DefaultCredentials types.NamespacedName
	// MaxConcurrentReconciles is the number of workers; zero means DefaultMessageWorkers.
	MaxConcurrentReconciles int
	// Reach reads the ReachPolicies of a namespace: the target must still be allowed when a
	// message is sent, and the namespace's weight and cap apply at the work queue and the app
	// limiter. nil: no policy applies.
	Reach *policy.Reader
	// ProofKey signs the ids recorded in annotations (DeliveryProofAnnotation); empty: a random
	// key per process.
	ProofKey []byte
	// OptOut, when set, ends messages to people who told the bot to stop (OptedOut).
	OptOut *OptOutPolicy

	proofOnce sync.Once
	proof     *deliveryProof

	// Journal keeps the send-attempt markers and delivered ids of each namespace's messages
	// (ledger.Journal, in ConfigMaps of that namespace); nil: one reading through Client and
	// APIReader, made by SetupWithManager.
	Journal *ledger.Journal

	// sends is what this process remembers about sends between reconciles (ledger.Memory).
	sends ledger.Memory

	// Broadcast tunes messages to audience targets (proactivemessage_broadcast.go).
	Broadcast BroadcastOptions
	bcast     broadcaster
}

// messageScope holds what the steps of one reconcile share.
type messageScope struct {
	msg     *teamsv1alpha1.ProactiveMessage
	proof   *deliveryProof
	patcher *status.Patcher
	target  *teamsv1alpha1.ConversationTarget
	clients *Clients
	// conversationID is where the message goes: the target's conversation, or the thread
	// of the message it replies to. channelID is set instead when a new channel thread
	// must be started.
	conversationID string
	channelID      string
	serviceURL     string
	tenantID       string
	activity       *botframework.Activity
	// ledger is the send-attempt protocol of this message; observed is what it found.
	ledger   *ledger.Ledger
	observed ledger.Observation
	// stale is set when the cache turned out to be behind the API server: everything this
	// reconcile computed came from an old version, so it writes nothing at all.
	stale bool
}

// +kubebuilder:rbac:groups=teams.operator.dev,resources=proactivemessages,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=teams.operator.dev,resources=proactivemessages/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=teams.operator.dev,resources=proactivemessages/finalizers,verbs=update
// +kubebuilder:rbac:groups=teams.operator.dev,resources=conversationtargets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;create;patch

// Reconcile sends a ProactiveMessage once it may go, then keeps Teams in line with it
// (edit on a content change, delete with the object, garbage collection after the TTL).
func (r *ProactiveMessageReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	msg := &teamsv1alpha1.ProactiveMessage{}
	if err := r.Get(ctx, req.NamespacedName, msg); err != nil {
		if apierrors.IsNotFound(err) {
			r.Journal.DeleteLater(req.Namespace, req.Name) // the journal does not keep deleted messages
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("target", msg.Spec.TargetRef.Name))
	f := outcome.Begin(r.Client, r.Recorder, msg)
	r.proofOnce.Do(func() { r.proof = newDeliveryProof(r.ProofKey) })
	s := &messageScope{msg: msg, patcher: f.Patcher(), proof: r.proof}
	s.ledger = r.sends.Open(msg, ledger.MessageKeys, ledger.Options{
		Guarantee: msg.Spec.DeliveryGuarantee, Book: r.Journal, Proof: messageProof{p: r.proof, msg: msg},
		Target: msg.Spec.TargetRef.Name, MayBeRestored: msg.Status.Attempts == 0,
		// The journal decides on the latest version of the message only: its status may say more.
		Confirm: func(ctx context.Context) error { return r.requeueIfStale(ctx, s) },
	})
	phaseBefore := msg.Status.Phase
	f.OnPatched = s.ledger.Persisted
	defer func() {
		if s.stale {
			f.Skip()
		} else {
			recordFinished(phaseBefore, msg)
		}
		result, retErr = f.Finish(ctx, result, retErr)
	}()

	// One file per phase: proactivemessage_delete.go, _finished.go, and _pending.go with
	// _send.go for a message still to be sent.
	if r.isBroadcast(ctx, msg) { // a message to an audience: proactivemessage_broadcast.go
		return r.reconcileBroadcast(ctx, s)
	}
	switch {
	case !msg.DeletionTimestamp.IsZero():
		return r.apply(ctx, s, r.reconcileDelete(ctx, s))
	case messageFinished(msg): // Delivered, Expired, or Failed or Unknown for this generation
		return r.apply(ctx, s, r.reconcileFinished(ctx, s))
	}
	return r.reconcileSend(ctx, s)
}

// reconcileSend moves a message that is still to be sent (Pending, Scheduled, Sending) on:
// the steps before a send (_pending.go), then the send (_send.go).
func (r *ProactiveMessageReconciler) reconcileSend(ctx context.Context, s *messageScope) (ctrl.Result, error) {
	result, err := r.apply(ctx, s, outcome.Run(ctx, s,
		r.observe,       // what the last send left: a delivery, an unknown outcome, a wait
		r.validate,      // the CEL rules and the size limit, before anything else
		r.checkExpiry,   // expiresAt
		r.resolveTarget, // the ConversationTarget must be Ready
		r.checkSendAt,   // sendAt: Scheduled once everything else is ready
		r.resolveReplyTo,
		r.waitForTurn,  // older messages to the same conversation go first
		r.waitForRetry, // Retry-After or the backoff of a refused send
		r.connect,
		r.checkOptOut, // a person who told the bot to stop gets nothing (OptedOut)
		r.send,
	))
	if err != nil || !messagePhaseFinal(s.msg.Status.Phase) {
		return result, err
	}
	gc, err := r.apply(ctx, s, r.collect(ctx, s)) // ttlAfterFinished counts from now on
	return outcome.Sooner(result, gc), err
}

// apply turns what the steps ended with into conditions and a result.
func (r *ProactiveMessageReconciler) apply(ctx context.Context, s *messageScope, err error) (ctrl.Result, error) {
	return outcome.Apply(ctx, s.msg, credentialsRecheck, err)
}

// SetupWithManager sets up the controller with the Manager.
func (r *ProactiveMessageReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil || r.APIReader == nil || r.Clients == nil {
		return errors.New("setting up the ProactiveMessage controller: Client, APIReader and Clients are required")
	}
	if err := messageIndexes(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	if r.Journal == nil {
		r.Journal = &ledger.Journal{Client: r.Client, Reader: r.APIReader}
	}
	workers := r.MaxConcurrentReconciles
	if workers <= 0 {
		workers = DefaultMessageWorkers
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Instead of For: queueEvents enqueues a message at its priority (status and
		// annotation writes, ours, do not start a reconcile; the steps requeue themselves
		// where they wait for time, and the watches below wake the rest), into a work queue
		// that shares each priority fairly between namespaces (proactivemessage_queue.go).
		Watches(&teamsv1alpha1.ProactiveMessage{}, queueEvents()).
		Watches(&teamsv1alpha1.ProactiveMessage{}, r.messageEvents()).
		Watches(&teamsv1alpha1.ConversationTarget{}, handler.EnqueueRequestsFromMapFunc(r.messagesOfTarget)).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: workers,
			NewQueue:                ratelimit.NewFairQueueFunc(r.queueWeight),
			LogConstructor:          messageLogConstructor(mgr.GetLogger()),
		}).
		Named("proactivemessage").
		Complete(r)
}
