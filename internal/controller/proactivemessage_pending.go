package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/cardcheck"
	"github.com/teams-operator/teams-operator/internal/delivery"
	"github.com/teams-operator/teams-operator/internal/ledger"
	"github.com/teams-operator/teams-operator/internal/outcome"
	"github.com/teams-operator/teams-operator/internal/status"
)

// threadSeparator joins a channel id and a root message id into a thread's conversation id.
const threadSeparator = ";messageid="

// credentialsRecheck is how often a message stalled on something outside the cluster looks
// again (its credentials: the Secret belongs to its target, which this controller does not watch).
const credentialsRecheck = time.Minute

// wait records that the message waits for something a watch or the returned requeue brings.
// A message with expiresAt looks again at that time, to expire while it waits.
func (s *messageScope) wait(reason, message string) error {
	s.msg.Status.Phase = teamsv1alpha1.PhasePending
	return outcome.Wait(reason, message, s.untilExpiry())
}

// fail ends the message for this generation: Failed and Stalled, so a person must act.
func (s *messageScope) fail(reason, message string) error {
	s.msg.Status.Phase = teamsv1alpha1.PhaseFailed
	return outcome.Stall(reason, message)
}

// observe reads what the last send left (the ledger). A marker without a result means the
// send it marks got no answer (the manager stopped, the connection dropped after the request
// was written, a gateway gave up), so Teams may or may not hold the message, and the Connector
// has no way to ask.
func (r *ProactiveMessageReconciler) observe(ctx context.Context, s *messageScope) error {
	if _, attempted := s.msg.GetAnnotations()[teamsv1alpha1.SendAttemptAnnotation]; attempted {
		// The cache may not have seen this message's latest writes yet: decide only on the latest.
		if err := r.requeueIfStale(ctx, s); err != nil {
			return err
		}
	}
	if err := s.checkRestoredIDs(ctx); err != nil {
		return err
	}
	observed, err := s.ledger.Observe(ctx)
	if err != nil {
		return journalFailure(err)
	}
	s.observed = observed
	log := ctrl.LoggerFrom(ctx)
	if observed.Ignored {
		// Sent as a new message; the send replaces the entry, so this is said once.
		log.Info("Ignoring the send journal's ids for this message: their delivery proof is not valid for it",
			"configMaps", ledger.JournalPrefix+"*")
	}
	switch s.observed.State {
	case ledger.Delivered:
		// The status does not say so yet: a restore from backup, or a write that failed.
		d := s.observed.Delivery
		log.Info("Recording a delivery", "sendAttempt", d.Marker, "activityId", d.ActivityID)
		return s.delivered(d.ConversationID, d.ActivityID, d.NoID)
	case ledger.Unknown:
		log.Info("Previous send has an unknown outcome; not sending again (deliveryGuarantee AtMostOnce)")
		return s.unknown()
	}
	if s.observed.Resent {
		log.Info("Sending again after a send with an unknown outcome (deliveryGuarantee AtLeastOnce)")
	}
	return nil
}

// waitForRetry ends the reconcile, writing nothing, while a refused send's wait lasts
// (Retry-After or the backoff). This lives in the process only (the ledger's memory): a
// restarted manager sends at once, as after any restart.
func (r *ProactiveMessageReconciler) waitForRetry(ctx context.Context, s *messageScope) error {
	if s.observed.State != ledger.Waiting {
		return nil
	}
	ctrl.LoggerFrom(ctx).V(1).Info("Waiting before sending again", "wait", s.observed.Until.String())
	return outcome.Requeue(s.observed.Until)
}

// unknown records an unknown outcome under AtMostOnce: never sent again.
func (s *messageScope) unknown() error {
	s.msg.Status.Phase = teamsv1alpha1.PhaseUnknown
	return outcome.Stall(teamsv1alpha1.DeliveryUnknownReason,
		"A send got no answer, so Teams may or may not hold the message; with deliveryGuarantee AtMostOnce it "+
			"is never sent twice. Check the conversation in Teams; to send it again, set deliveryGuarantee to "+
			"AtLeastOnce or create a new ProactiveMessage")
}

// requeueIfStale ends the reconcile, writing nothing, when the cache is behind the API
// server: the latest version of the message comes with its own event, or with the requeue.
func (r *ProactiveMessageReconciler) requeueIfStale(ctx context.Context, s *messageScope) error {
	stale, err := r.isStale(ctx, s.msg)
	if err != nil {
		return err
	}
	if stale {
		ctrl.LoggerFrom(ctx).V(1).Info("Cache is behind the API server, looking again in a second")
		s.stale = true
		return outcome.Requeue(time.Second)
	}
	return nil
}

// isStale reports whether the API server has a newer version of msg than the cache gave.
func (r *ProactiveMessageReconciler) isStale(ctx context.Context, msg *teamsv1alpha1.ProactiveMessage) (bool, error) {
	live := &metav1.PartialObjectMetadata{}
	live.SetGroupVersionKind(teamsv1alpha1.GroupVersion.WithKind("ProactiveMessage"))
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(msg), live); err != nil {
		return false, fmt.Errorf("reading the latest version of the message: %w", err)
	}
	return live.ResourceVersion != msg.ResourceVersion, nil
}

// validate mirrors the CEL rules (for API servers without CEL) and refuses content larger
// than Teams accepts, before any request.
func (r *ProactiveMessageReconciler) validate(_ context.Context, s *messageScope) error {
	spec := &s.msg.Spec
	if err := cardDropped(s.msg); err != nil {
		s.msg.Status.LastError = err.Error()
		return s.fail(teamsv1alpha1.MessageTooLargeReason, "Not sent: "+err.Error())
	}
	if err := delivery.Validate(spec); err != nil {
		return s.fail(teamsv1alpha1.InvalidSpecReason, "Invalid spec: "+err.Error())
	}
	size, err := delivery.CheckSize(spec)
	if err != nil {
		reason := teamsv1alpha1.InvalidSpecReason
		if errors.Is(err, delivery.ErrTooLarge) {
			reason = teamsv1alpha1.MessageTooLargeReason
		}
		s.msg.Status.LastError = err.Error()
		return s.fail(reason, "Not sent: "+err.Error())
	}
	activity, err := delivery.BuildActivity(spec)
	if err != nil {
		return s.fail(teamsv1alpha1.InvalidSpecReason, "Invalid content: "+err.Error())
	}
	if err := cardcheck.Attachments(activity); err != nil {
		// Teams would accept the send and then show people an error instead of the card.
		s.msg.Status.LastError = err.Error()
		return s.fail(teamsv1alpha1.InvalidCardReason, cardRefusal+err.Error())
	}
	s.activity = activity
	if size > delivery.WarnActivityBytes && s.msg.Status.Attempts == 0 {
		// Teams recommends staying under 80 KB "to guarantee successful message delivery".
		r.Recorder.Eventf(s.msg, nil, corev1.EventTypeWarning, MessageLargeEvent, "Validate",
			"The message is %d bytes as Teams counts it (UTF-16); above %d, Teams does not guarantee delivery",
			size, delivery.WarnActivityBytes)
	}
	return nil
}

// cardRefusal starts the condition message of a card Teams would not render; the problem that
// follows starts with its JSON path in the card ($ is spec.adaptiveCard).
const cardRefusal = "Not sent: Teams would not render the Adaptive Card at "

// MessageLargeEvent is the Warning event of a message above delivery.WarnActivityBytes.
const MessageLargeEvent = "MessageLarge"

// checkExpiry ends a message that expired before delivery. Expired is terminal and not a
// success, so it is Stalled: a GitOps waiter stops on it (docs/gitops.md).
func (r *ProactiveMessageReconciler) checkExpiry(_ context.Context, s *messageScope) error {
	if exp := s.msg.Spec.ExpiresAt; exp != nil && !time.Now().Before(exp.Time) {
		s.msg.Status.Phase = teamsv1alpha1.PhaseExpired
		return outcome.Stall(teamsv1alpha1.ExpiredReason, fmt.Sprintf(
			"Not delivered before expiresAt (%s); it will not be sent", exp.UTC().Format(time.RFC3339)))
	}
	return nil
}

// checkSendAt holds a message whose sendAt is ahead until then (one requeue, no polling). It
// runs once the target is Ready, so Scheduled means "everything is ready, only the time is
// missing": Ready=True with reason Scheduled, which kstatus reports Current, so a GitOps wait
// over a message scheduled for next week completes (docs/gitops.md).
func (r *ProactiveMessageReconciler) checkSendAt(_ context.Context, s *messageScope) error {
	now := time.Now()
	if at := s.msg.Spec.SendAt; at != nil && now.Before(at.Time) {
		return s.scheduled(fmt.Sprintf("Scheduled to be sent at %s", at.UTC().Format(time.RFC3339)), at.Sub(now))
	}
	return nil
}

// scheduled records a message that waits for a time by design: Ready, with reason Scheduled.
func (s *messageScope) scheduled(message string, after time.Duration) error {
	s.msg.Status.Phase = teamsv1alpha1.PhaseScheduled
	status.MarkReady(s.msg, teamsv1alpha1.ScheduledReason, message)
	return outcome.Requeue(after) // keeps the conditions just set
}

// blocked records a message whose dependency cannot progress until a person acts: Stalled, so
// a waiter stops, while the phase stays Pending and the watch on the dependency sends the
// message once it is fixed. A message with expiresAt looks again at that time.
func (s *messageScope) blocked(reason, message string) error {
	s.msg.Status.Phase = teamsv1alpha1.PhasePending
	status.MarkStalled(s.msg, reason, message)
	return outcome.Requeue(s.untilExpiry())
}

// untilExpiry is when a waiting message must look again to expire on time (0: never).
func (s *messageScope) untilExpiry() time.Duration {
	if exp := s.msg.Spec.ExpiresAt; exp != nil {
		return max(time.Until(exp.Time), time.Second)
	}
	return 0
}

// resolveTarget takes the conversation, service URL and tenant from the ConversationTarget,
// which must be Ready for its generation.
func (r *ProactiveMessageReconciler) resolveTarget(ctx context.Context, s *messageScope) error {
	name := s.msg.Spec.TargetRef.Name
	target := &teamsv1alpha1.ConversationTarget{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: s.msg.Namespace, Name: name}, target); err != nil {
		if apierrors.IsNotFound(err) {
			return s.wait(teamsv1alpha1.DependencyNotReadyReason, fmt.Sprintf(
				"ConversationTarget %q not found: create it; the message is sent once it is Ready", name))
		}
		return fmt.Errorf("getting ConversationTarget %s: %w", name, err)
	}
	if !status.IsReady(target) || target.Status.ConversationID == "" {
		why := "it has no status yet"
		if c := status.ReadyCondition(target); c != nil && c.Message != "" {
			why = c.Message
		}
		if status.IsStalled(target) {
			reason := teamsv1alpha1.DependencyNotReadyReason
			if c := status.ReadyCondition(target); c != nil && c.Reason == teamsv1alpha1.ReachRefusedReason {
				reason = c.Reason // the policy refuses the message as much as its target
			}
			return s.blocked(reason, fmt.Sprintf(
				"ConversationTarget %q is Stalled (%s); the message is sent once it is Ready", name, why))
		}
		return s.wait(teamsv1alpha1.DependencyNotReadyReason, fmt.Sprintf(
			"ConversationTarget %q is not Ready (%s); the message is sent once it is", name, why))
	}
	// The policy may have changed since the target was resolved: the message says so at once,
	// and the target follows when its own reconcile sees the change.
	refusal, err := reachRefusal(ctx, r.Client, r.Reach, target)
	if err != nil {
		return err
	}
	if refusal != nil {
		return s.blocked(refusal.Reason, fmt.Sprintf("ConversationTarget %q: %s", name, refusal.Message))
	}
	s.target = target
	s.conversationID = target.Status.ConversationID
	// A channel target starts a new thread per message, unless its conversation id already is a
	// thread ({channel};messageid={root}, a known conversation): that one is posted into, never
	// passed to CreateConversation (reference 3.3 c; https://learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/channel-and-group-conversations).
	if target.Status.Kind == targetKindChannel && !strings.Contains(target.Status.ConversationID, threadSeparator) {
		s.channelID = target.Status.ConversationID
	}
	return nil
}

// resolveReplyTo sends a reply into the thread of the message it names, once that one is
// delivered.
func (r *ProactiveMessageReconciler) resolveReplyTo(ctx context.Context, s *messageScope) error {
	ref := s.msg.Spec.ReplyTo
	if ref == nil {
		return nil
	}
	parent := &teamsv1alpha1.ProactiveMessage{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: s.msg.Namespace, Name: ref.Name}, parent); err != nil {
		if apierrors.IsNotFound(err) {
			return s.wait(teamsv1alpha1.ReplyTargetNotReady, fmt.Sprintf(
				"ProactiveMessage %q (replyTo) not found; the reply is sent once it is delivered", ref.Name))
		}
		return fmt.Errorf("getting ProactiveMessage %s: %w", ref.Name, err)
	}
	switch {
	case parent.Spec.TargetRef.Name != s.msg.Spec.TargetRef.Name:
		return s.fail(teamsv1alpha1.InvalidSpecReason, fmt.Sprintf("replyTo names %q, a message to another ConversationTarget "+
			"(%q): a reply must go to the same target", ref.Name, parent.Spec.TargetRef.Name))
	case parent.Status.Phase == teamsv1alpha1.PhaseDelivered && !strings.Contains(parent.Status.ConversationID, threadSeparator):
		return s.fail(teamsv1alpha1.InvalidSpecReason, fmt.Sprintf("replyTo names %q, which was not sent to a channel: "+
			"only channel messages have threads to reply in", ref.Name))
	case parent.Status.Phase == teamsv1alpha1.PhaseDelivered:
		s.conversationID, s.channelID = parent.Status.ConversationID, ""
	case messageFinished(parent):
		return s.fail(teamsv1alpha1.ReplyTargetNotReady, fmt.Sprintf("replyTo names %q, which ended %s and will not be "+
			"delivered: reply to another message", ref.Name, parent.Status.Phase))
	case parent.Status.Phase == teamsv1alpha1.PhaseScheduled:
		// Waiting for a scheduled message is waiting for its time, by design.
		return s.scheduled(fmt.Sprintf("Sent in the thread of ProactiveMessage %q once it is delivered; it is "+
			"scheduled (sendAt %s)", ref.Name, parentSendAt(parent)), s.untilExpiry())
	default:
		return s.wait(teamsv1alpha1.ReplyTargetNotReady, fmt.Sprintf(
			"Waiting for ProactiveMessage %q to be delivered: this message is a reply in its thread", ref.Name))
	}
	return nil
}

func parentSendAt(parent *teamsv1alpha1.ProactiveMessage) string {
	if at := parent.Spec.SendAt; at != nil {
		return at.UTC().Format(time.RFC3339)
	}
	return "unknown"
}

// connect gets the clients of the target's credentials.
func (r *ProactiveMessageReconciler) connect(ctx context.Context, s *messageScope) error {
	clients, err := r.Clients.For(ctx, s.msg.Namespace, s.target.Spec.CredentialsRef)
	if err != nil {
		if ce, ok := AsCredentialsError(err); ok {
			// The Secret belongs to the target, whose Secret this controller does not watch.
			s.msg.Status.Phase = teamsv1alpha1.PhasePending
			return outcome.StallExternal(ce.Reason, "Credentials of ConversationTarget "+s.target.Name+": "+ce.Message)
		}
		return fmt.Errorf("getting clients for ConversationTarget %s: %w", s.target.Name, err)
	}
	s.clients = clients
	s.serviceURL = s.target.Status.ServiceURL
	if s.serviceURL == "" {
		s.serviceURL = clients.DefaultServiceURL
	}
	s.tenantID = s.target.Status.TenantID
	if s.tenantID == "" {
		s.tenantID = clients.TenantID
	}
	return nil
}

// cardDropped refuses a card the manager's cache dropped for its size (operator.CacheTransform):
// the cached object holds an empty card in its place.
func cardDropped(msg *teamsv1alpha1.ProactiveMessage) error {
	if n, ok := msg.Annotations[teamsv1alpha1.CardDroppedAnnotation]; ok {
		return fmt.Errorf("%w: the card alone is %s bytes, Teams accepts at most about %d for the whole message: shorten the card",
			delivery.ErrTooLarge, n, delivery.MaxActivityBytes)
	}
	return nil
}
