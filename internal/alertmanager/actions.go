package alertmanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/alertmanager/amapi"
)

// RBAC of the card's buttons: they record on the message's status and read the namespace's
// Alertmanager Secret (get, above).
// +kubebuilder:rbac:groups=teams.operator.dev,resources=proactivemessages/status,verbs=patch

// Event reasons of the card's buttons, on the ProactiveMessage.
const (
	AcknowledgedReason      = "Acknowledged"
	SilencedReason          = "Silenced"
	SilenceExpiredReason    = "SilenceExpired"
	CardActionRefusedReason = "CardActionRefused"
	CardActionFailedReason  = "CardActionFailed"
)

// DefaultActionTimeout is the whole budget of one button press: Teams waits for the invoke's
// answer only a few seconds (Microsoft's pages name no limit for adaptiveCard/action; bots are
// commonly held to about 5 s), and the answer must come before, even when Alertmanager hangs.
const DefaultActionTimeout = 4 * time.Second

// maxInvokeData caps the button's data read from the invoke.
const maxInvokeData = 4096

// GroupChecker tells whether a user is a (direct or nested) member of any of groups, as Entra
// knows it, using the credentials of the target's bot.
type GroupChecker interface {
	IsMemberOfAny(ctx context.Context, target *teamsv1alpha1.ConversationTarget, userID string, groups []string) (bool, error)
}

// BotMatcher reports whether objects with these credentials belong to bot appID in tenantID
// (botendpoint.Directory).
type BotMatcher interface {
	Matches(ctx context.Context, namespace string, ref *teamsv1alpha1.LocalObjectReference, appID, tenantID string) bool
}

// ActionOptions configure the card's buttons.
type ActionOptions struct {
	// Reader reads ProactiveMessages, ConversationTargets and the Alertmanager Secret from the API
	// server (the manager's APIReader): a button press must see the current state.
	Reader client.Reader
	// Metadata, when set, is the manager's cache of Secret metadata: the Alertmanager Secret is
	// read only when the manager may hold it (--secret-namespaces, --secret-label-selector).
	Metadata client.Reader
	// Writer updates the message and its status.
	Writer client.Client
	// Recorder records the events of the buttons on the message.
	Recorder events.EventRecorder
	// APISecret is the name of each namespace's Alertmanager Secret (DefaultAPISecret).
	APISecret string
	// Groups checks allowedGroups; nil: a target naming groups refuses everyone outside allowedUsers.
	Groups GroupChecker
	// Bots, when set, tells whether the target's credentials are the bot the invoke was for, in
	// its tenant: a press acts only on that bot's messages.
	Bots BotMatcher
	// Timeout bounds one button press (DefaultActionTimeout).
	Timeout time.Duration
	Log     logr.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

func (o ActionOptions) withDefaults() ActionOptions {
	if o.APISecret == "" {
		o.APISecret = DefaultAPISecret
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultActionTimeout
	}
	if o.Log.GetSink() == nil {
		o.Log = ctrl.Log.WithName("alertmanager-actions")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Invoke is what the buttons need of an adaptiveCard/action invoke activity, already
// authenticated by the bot endpoint (a Bot Framework token for the bot).
type Invoke struct {
	// BotAppID is the bot the invoke was for (authenticated by the endpoint).
	BotAppID string
	// ConversationID, TenantID and ReplyToID are the invoke's conversation.id,
	// conversation.tenantId (or channelData.tenant.id) and replyToId (the card's message).
	ConversationID, TenantID, ReplyToID string
	// UserName and UserAADObjectID are from.name and from.aadObjectId.
	UserName, UserAADObjectID string
	// Verb and Data are value.action.verb and value.action.data.
	Verb string
	Data json.RawMessage
}

// InvokeResult is the answer to the invoke: an Adaptive Card to show in place of the card, or,
// when no card of the operator's applies, a message.
type InvokeResult struct {
	StatusCode int
	Card       *teamsv1alpha1.AdaptiveCard
	Message    string
}

// Actions handles the Alertmanager card's buttons.
type Actions struct {
	o ActionOptions
}

// NewActions returns the handler of the Alertmanager card's buttons.
func NewActions(o ActionOptions) *Actions { return &Actions{o: o.withDefaults()} }

// HandlesVerb reports whether verb is one of the Alertmanager card's.
func HandlesVerb(verb string) bool {
	return verb == VerbAcknowledge || verb == VerbSilence || verb == VerbExpireSilence
}

// buttonData is the data of the card's buttons.
type buttonData struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Duration  string `json:"duration,omitempty"`
	SilenceID string `json:"silenceId,omitempty"`
}

// press is one button press being handled.
type press struct {
	inv    Invoke
	data   buttonData
	pm     *teamsv1alpha1.ProactiveMessage
	target *teamsv1alpha1.ConversationTarget
	cfg    *APIConfig
	cfgErr error
	actor  Actor
	log    logr.Logger
}

// Handle answers a button press within the time limit: the refreshed card, a card with a
// refusal or an error, or a message when the press names no card of the operator's.
func (a *Actions) Handle(ctx context.Context, inv Invoke) InvokeResult {
	ctx, cancel := context.WithTimeout(ctx, a.o.Timeout)
	defer cancel()
	p, res := a.begin(ctx, inv)
	if res != nil {
		return *res
	}
	if why := a.authorize(ctx, p); why != "" {
		return a.refuse(p, ActionRefusedNotAllowed, why)
	}
	if why := a.alertmanagerRefusal(p); why != "" {
		return a.refuse(p, ActionRefusedNotPossible, why)
	}
	var result InvokeResult
	switch inv.Verb {
	case VerbAcknowledge:
		result = a.acknowledge(ctx, p)
	case VerbSilence:
		result = a.silence(ctx, p)
	default:
		result = a.expire(ctx, p)
	}
	return result
}

// begin finds the message the button belongs to and checks that it is the card this invoke came
// from: the invoke's conversation is the message's, so the button's data cannot point elsewhere.
func (a *Actions) begin(ctx context.Context, inv Invoke) (*press, *InvokeResult) {
	log := a.o.Log.WithValues("verb", inv.Verb, "user", inv.UserAADObjectID)
	notOurs := func(why string) (*press, *InvokeResult) {
		actionsTotal.WithLabelValues(verbLabel(inv.Verb), ActionRefusedUnknownCard).Inc()
		log.Info("Refused a card action", "reason", ActionRefusedUnknownCard, "why", why)
		return nil, &InvokeResult{StatusCode: http.StatusBadRequest, Message: "This card's buttons no longer work: " + why}
	}
	if !HandlesVerb(inv.Verb) {
		return notOurs("the action is unknown")
	}
	var d buttonData
	if len(inv.Data) > maxInvokeData || json.Unmarshal(inv.Data, &d) != nil || d.Namespace == "" || d.Name == "" {
		return notOurs("the button's data is not the operator's")
	}
	log = log.WithValues("namespace", d.Namespace, "proactiveMessage", d.Name)
	pm := &teamsv1alpha1.ProactiveMessage{}
	if err := a.o.Reader.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: d.Name}, pm); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsBadRequest(err) || apierrors.IsInvalid(err) {
			return notOurs("the alert group's message is gone")
		}
		return nil, a.failed(log, inv.Verb, err, "reading the message")
	}
	if pm.Labels[ManagedByLabel] != ManagedByValue || pm.Status.ActivityID == "" ||
		!sameConversation(pm.Status.ConversationID, inv.ConversationID) ||
		(inv.ReplyToID != "" && inv.ReplyToID != pm.Status.ActivityID) {
		return notOurs("it is not the message this button belongs to")
	}
	target := &teamsv1alpha1.ConversationTarget{}
	if err := a.o.Reader.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: pm.Spec.TargetRef.Name}, target); err != nil {
		if apierrors.IsNotFound(err) {
			return notOurs("its ConversationTarget is gone")
		}
		return nil, a.failed(log, inv.Verb, err, "reading the ConversationTarget")
	}
	if tid := target.Status.TenantID; tid != "" && inv.TenantID != "" && !strings.EqualFold(tid, inv.TenantID) {
		return notOurs("it is not this tenant's message")
	}
	if a.o.Bots != nil && !a.o.Bots.Matches(ctx, d.Namespace, target.Spec.CredentialsRef, inv.BotAppID, inv.TenantID) {
		return notOurs("it is not this bot's message")
	}
	cfg, cfgErr := LoadAPIConfig(ctx, a.o.Metadata, a.o.Reader, d.Namespace, a.o.APISecret)
	if cfgErr != nil && !errors.Is(cfgErr, ErrNoAPIConfig) && !isConfigError(cfgErr) {
		return nil, a.failed(log, inv.Verb, cfgErr, "reading the Alertmanager Secret")
	}
	return &press{
		inv: inv, data: d, pm: pm, target: target, cfg: cfg, cfgErr: cfgErr, log: log,
		actor: Actor{Name: truncate(strings.TrimSpace(inv.UserName), 256), ID: truncate(inv.UserAADObjectID, 64), At: a.o.Now().UTC().Truncate(time.Second)},
	}, nil
}

// isConfigError tells a Secret that is there but wrong from an API server that cannot answer.
func isConfigError(err error) bool {
	_, ok := errors.AsType[*ConfigError](err)
	return ok
}

// sameConversation compares the message's conversation with the invoke's. A channel message's
// conversation is its thread (channel;messageid=root); an invoke from it may name the thread or
// the channel, so the channel must match and a thread, when both name one, too.
func sameConversation(message, invoke string) bool {
	if message == "" || invoke == "" {
		return false
	}
	mc, mt, _ := strings.Cut(message, ";messageid=")
	ic, it, _ := strings.Cut(invoke, ";messageid=")
	return mc == ic && (mt == "" || it == "" || mt == it)
}

// authorize returns why the user may not act, or "".
func (a *Actions) authorize(ctx context.Context, p *press) string {
	policy := p.target.Spec.CardActions
	if policy == nil || (len(policy.AllowedUsers) == 0 && len(policy.AllowedGroups) == 0) {
		return "" // Teams sends invokes only from the conversation's members
	}
	id := p.inv.UserAADObjectID
	if id == "" {
		return "Teams did not say who you are in Entra ID, so the allowed list cannot be checked."
	}
	if slices.ContainsFunc(policy.AllowedUsers, func(u string) bool { return strings.EqualFold(u, id) }) {
		return ""
	}
	if len(policy.AllowedGroups) > 0 && a.o.Groups != nil {
		ok, err := a.o.Groups.IsMemberOfAny(ctx, p.target, id, policy.AllowedGroups)
		if err != nil {
			p.log.Info("Cannot check group membership", "error", err.Error())
			return "Your group membership could not be checked now; try again."
		}
		if ok {
			return ""
		}
	}
	return fmt.Sprintf("Only the people the ConversationTarget %s allows may use these buttons.", p.target.Name)
}

func (a *Actions) acknowledge(ctx context.Context, p *press) InvokeResult {
	state := stateOf(p.pm.Annotations)
	if state.Acknowledged != nil {
		return a.answer(p, state, "", "") // already acknowledged: show who did
	}
	saved, err := a.save(ctx, p, func(s *ActionState) bool {
		if s.Acknowledged != nil {
			return false
		}
		s.Acknowledged = &p.actor
		return true
	})
	if err != nil {
		return a.errorCard(p, err, "The acknowledgement could not be recorded")
	}
	a.recorded(p, AcknowledgedReason, "Acknowledged in Teams by %s", p.actor.Name)
	return a.answer(p, saved, "", "")
}

func (a *Actions) silence(ctx context.Context, p *press) InvokeResult {
	state := stateOf(p.pm.Annotations)
	if state.activeSilence(a.o.Now()) != nil {
		return a.answer(p, state, "", "")
	}
	if why := a.silenceRefusal(p); why != "" {
		return a.refuse(p, ActionRefusedNotPossible, why)
	}
	d, _ := time.ParseDuration(p.data.Duration) // checked by silenceRefusal
	am, err := p.cfg.Client()
	if err != nil {
		return a.errorCard(p, err, "The namespace's Alertmanager configuration is not usable")
	}
	defer am.Close()
	s := a.newSilence(p, d)
	id, err := am.CreateSilence(ctx, s)
	if err != nil {
		return a.errorCard(p, err, "Alertmanager did not create the silence")
	}
	mine := &SilenceState{Actor: p.actor, SilenceID: id, Until: s.EndsAt}
	saved, err := a.save(ctx, p, func(st *ActionState) bool {
		if st.activeSilence(a.o.Now()) != nil {
			return false // someone silenced it meanwhile
		}
		st.Silence = mine
		return true
	})
	if err != nil || saved.Silence == nil || saved.Silence.SilenceID != id {
		// Nothing half-done: a silence the card does not show is taken back, after the answer
		// (which must not wait for it) and with its own deadline.
		undoCtx := context.WithoutCancel(ctx)
		undoClient, cerr := p.cfg.Client()
		if cerr == nil {
			go func() {
				defer undoClient.Close()
				undo, cancel := context.WithTimeout(undoCtx, amapi.DefaultTimeout)
				defer cancel()
				if uerr := undoClient.ExpireSilence(undo, id); uerr != nil {
					p.log.Info("Cannot expire a silence the card does not show", "silenceID", id, "error", uerr.Error())
				}
			}()
		}
		if err != nil {
			return a.errorCard(p, err, "The silence could not be recorded, so it was expired again")
		}
		return a.answer(p, saved, "", "")
	}
	a.recorded(p, SilencedReason, "Silenced in Teams by %s until %s (silence %s)", p.actor.Name, clock(mine.Until), id)
	return a.answer(p, saved, "", "")
}

// silenceRefusal says why this group cannot be silenced from the card, or "".
func (a *Actions) silenceRefusal(p *press) string {
	if p.pm.Labels[StatusLabel] != StatusFiring {
		return "The alerts are resolved; there is nothing to silence."
	}
	if len(matchersOf(p.pm.Annotations)) == 0 {
		return "The group's labels cannot make an exact silence; silence it in Alertmanager."
	}
	d, err := time.ParseDuration(p.data.Duration)
	if err != nil || !slices.Contains(p.cfg.Durations, d) {
		return "That silence duration is not offered any more."
	}
	return ""
}

// alertmanagerRefusal says why the namespace's Alertmanager cannot be used for this card, or "".
func (a *Actions) alertmanagerRefusal(p *press) string {
	switch {
	case errors.Is(p.cfgErr, ErrNoAPIConfig):
		return fmt.Sprintf("The namespace %s names no Alertmanager (Secret %s).", p.pm.Namespace, a.o.APISecret)
	case p.cfgErr != nil:
		return "The namespace's Alertmanager configuration is invalid: " + p.cfgErr.Error()
	case !p.cfg.Buttons:
		return "The namespace turned the buttons off."
	case !p.cfg.Names(p.pm.Annotations[ExternalURLAnnotation]):
		return "This alert came from another Alertmanager than the namespace's, so it cannot be silenced from here."
	}
	return ""
}

func (a *Actions) newSilence(p *press, d time.Duration) amapi.Silence {
	labels := matchersOf(p.pm.Annotations)
	matchers := make([]amapi.Matcher, 0, len(labels))
	for _, k := range sortedKeys(labels) {
		matchers = append(matchers, amapi.Matcher{Name: k, Value: labels[k], IsEqual: true})
	}
	now := a.o.Now().UTC().Truncate(time.Second)
	createdBy := p.actor.Name
	if p.actor.ID != "" {
		createdBy = fmt.Sprintf("%s (%s)", p.actor.Name, p.actor.ID)
	}
	comment := fmt.Sprintf("Silenced for %s from Microsoft Teams by %s: %s (ProactiveMessage %s/%s, target %s)",
		formatDuration(d), p.actor.Name, p.pm.Spec.Summary, p.pm.Namespace, p.pm.Name, p.pm.Spec.TargetRef.Name)
	if link := teamsLink(p.pm.Status.ConversationID, p.pm.Status.ActivityID, p.target.Status.TenantID); link != "" {
		comment += " " + link
	}
	return amapi.Silence{Matchers: matchers, StartsAt: now, EndsAt: now.Add(d), CreatedBy: createdBy, Comment: comment}
}

// teamsLink is a link to the message in Teams (a deep link to a chat or channel message).
func teamsLink(conversationID, activityID, tenantID string) string {
	if conversationID == "" || activityID == "" {
		return ""
	}
	chat, _, _ := strings.Cut(conversationID, ";messageid=")
	u := "https://teams.microsoft.com/l/message/" + url.PathEscape(chat) + "/" + url.PathEscape(activityID)
	if tenantID != "" {
		u += "?tenantId=" + url.QueryEscape(tenantID)
	}
	return u
}

func (a *Actions) expire(ctx context.Context, p *press) InvokeResult {
	state := stateOf(p.pm.Annotations)
	s := state.Silence
	if s == nil || s.SilenceID != p.data.SilenceID {
		return a.answer(p, state, "", "") // already expired, or another silence: show the current state
	}
	am, err := p.cfg.Client()
	if err != nil {
		return a.errorCard(p, err, "The namespace's Alertmanager configuration is not usable")
	}
	defer am.Close()
	if err := am.ExpireSilence(ctx, s.SilenceID); err != nil {
		return a.errorCard(p, err, "Alertmanager did not expire the silence")
	}
	saved, err := a.save(ctx, p, func(st *ActionState) bool {
		if st.Silence == nil || st.Silence.SilenceID != s.SilenceID {
			return false
		}
		st.Silence = nil
		return true
	})
	if err != nil {
		// The silence is gone in Alertmanager; pressing again finds it expired and fixes the card.
		return a.errorCard(p, err, "The silence was expired in Alertmanager, but the card could not be updated; press Expire silence again")
	}
	a.recorded(p, SilenceExpiredReason, "Silence %s expired in Teams by %s", s.SilenceID, p.actor.Name)
	return a.answer(p, saved, "", "")
}

// save applies change to the message's state, re-rendering its card (the controller then edits
// the Teams message, so everyone sees it), and records the state on its status. It returns the
// state saved; change returning false keeps the state found.
func (a *Actions) save(ctx context.Context, p *press, change func(*ActionState) bool) (ActionState, error) {
	var state ActionState
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pm := &teamsv1alpha1.ProactiveMessage{}
		if err := a.o.Reader.Get(ctx, client.ObjectKeyFromObject(p.pm), pm); err != nil {
			return err
		}
		if pm.UID != p.pm.UID {
			return apierrors.NewNotFound(teamsv1alpha1.GroupVersion.WithResource("proactivemessages").GroupResource(), pm.Name)
		}
		state = stateOf(pm.Annotations)
		if !change(&state) {
			p.pm = pm
			return nil
		}
		if pm.Annotations == nil {
			pm.Annotations = map[string]string{}
		}
		pm.Annotations[StateAnnotation] = state.annotation()
		pm.Spec.AdaptiveCard = withSection(pm.Spec.AdaptiveCard, a.section(p, pm, state).element())
		if err := a.o.Writer.Update(ctx, pm, client.FieldOwner(fieldOwner)); err != nil {
			return err
		}
		p.pm = pm
		return nil
	})
	if err != nil {
		return state, err
	}
	a.recordStatus(ctx, p, state)
	return state, nil
}

// recordStatus mirrors the state on the message's status. The annotation is the record the card
// is rendered from; a status that could not be written is written at the next press.
func (a *Actions) recordStatus(ctx context.Context, p *press, s ActionState) {
	want := cardActionsStatus(s)
	// A merge patch removes a field only with an explicit null.
	fields := map[string]any{"acknowledged": nil, "silence": nil}
	if want.Acknowledged != nil {
		fields["acknowledged"] = want.Acknowledged
	}
	if want.Silence != nil {
		fields["silence"] = want.Silence
	}
	patch := map[string]any{"status": map[string]any{"cardActions": fields}}
	b, _ := json.Marshal(patch)
	if err := a.o.Writer.Status().Patch(ctx, p.pm, client.RawPatch("application/merge-patch+json", b), client.FieldOwner(fieldOwner)); err != nil {
		p.log.Info("Cannot record the card action on the message's status", "error", err.Error())
	}
}

func cardActionsStatus(s ActionState) *teamsv1alpha1.CardActionsStatus {
	out := &teamsv1alpha1.CardActionsStatus{}
	if a := s.Acknowledged; a != nil {
		out.Acknowledged = &teamsv1alpha1.CardActor{Name: a.Name, AADObjectID: a.ID, At: metav1.NewTime(a.At)}
	}
	if si := s.Silence; si != nil {
		out.Silence = &teamsv1alpha1.CardSilence{
			CardActor: teamsv1alpha1.CardActor{Name: si.Name, AADObjectID: si.ID, At: metav1.NewTime(si.At)},
			ID:        si.SilenceID, Until: metav1.NewTime(si.Until),
		}
	}
	return out
}

// section is the card's actions element for pm in state s.
func (a *Actions) section(p *press, pm *teamsv1alpha1.ProactiveMessage, s ActionState) *section {
	return actionsSection(pm, s, p.cfg, p.cfgErr, true, a.o.Now())
}

// answer is the refreshed card, with an optional note for the person who pressed.
func (a *Actions) answer(p *press, s ActionState, note, color string) InvokeResult {
	if note == "" {
		actionsTotal.WithLabelValues(verbLabel(p.inv.Verb), ActionResultDone).Inc()
	}
	sec := a.section(p, p.pm, s)
	sec.note, sec.noteColor = note, color
	return InvokeResult{StatusCode: http.StatusOK, Card: withSection(p.pm.Spec.AdaptiveCard, sec.element())}
}

// refuse answers a press the user may not make, or that cannot be done, with the card and the
// reason in it; it is logged, counted and recorded as a Warning event on the message.
func (a *Actions) refuse(p *press, reason, why string) InvokeResult {
	actionsTotal.WithLabelValues(verbLabel(p.inv.Verb), reason).Inc()
	p.log.Info("Refused a card action", "reason", reason, "why", why)
	if a.o.Recorder != nil {
		a.o.Recorder.Eventf(p.pm, nil, corev1.EventTypeWarning, CardActionRefusedReason, "CardAction",
			"Refused %s by %s (%s): %s", verbLabel(p.inv.Verb), p.actor.Name, p.actor.ID, why)
	}
	return a.answer(p, stateOf(p.pm.Annotations), "⛔ "+why, colorAlarm)
}

// errorCard answers a failure: the card as it was, with what went wrong; nothing was changed.
func (a *Actions) errorCard(p *press, err error, what string) InvokeResult {
	actionsTotal.WithLabelValues(verbLabel(p.inv.Verb), ActionResultFailed).Inc()
	p.log.Info("A card action failed", "error", err.Error())
	msg := what + ": " + userError(err)
	if a.o.Recorder != nil {
		a.o.Recorder.Eventf(p.pm, nil, corev1.EventTypeWarning, CardActionFailedReason, "CardAction", "%s", truncate(msg, 1024))
	}
	return a.answer(p, stateOf(p.pm.Annotations), "⚠ "+msg+". Nothing was changed; try again.", colorAlarm)
}

// userError is what a person in Teams may read of an error: no API server details.
func userError(err error) string {
	var amErr *amapi.Error
	switch {
	case errors.As(err, &amErr) && amErr.Unavailable:
		return "Alertmanager did not answer in time"
	case errors.As(err, &amErr):
		return truncate(amErr.Error(), 300)
	case errors.Is(err, context.DeadlineExceeded):
		return "it took too long"
	default:
		return "the Kubernetes API server did not accept the change"
	}
}

func (a *Actions) failed(log logr.Logger, verb string, err error, doing string) *InvokeResult {
	actionsTotal.WithLabelValues(verbLabel(verb), ActionResultFailed).Inc()
	log.Info("A card action failed", "doing", doing, "error", err.Error())
	return &InvokeResult{StatusCode: http.StatusServiceUnavailable, Message: "The operator could not handle the button now; try again."}
}

// recorded is the Normal event of a button press that changed the message.
func (a *Actions) recorded(p *press, reason, format string, args ...any) {
	p.log.Info("Card action", "reason", reason)
	if a.o.Recorder != nil {
		a.o.Recorder.Eventf(p.pm, nil, corev1.EventTypeNormal, reason, "CardAction", format, args...)
	}
}

func verbLabel(verb string) string {
	switch verb {
	case VerbAcknowledge:
		return actionAcknowledge
	case VerbSilence:
		return actionSilence
	case VerbExpireSilence:
		return actionExpire
	}
	return "unknown"
}

// actionsSection is the card's actions element of message pm: used by the receiver when it
// renders a notification and by the buttons when they change the state.
func actionsSection(pm *teamsv1alpha1.ProactiveMessage, s ActionState, cfg *APIConfig, cfgErr error, botEndpoint bool, now time.Time) *section {
	sec := &section{
		namespace: pm.Namespace, name: pm.Name, firing: pm.Labels[StatusLabel] == StatusFiring, state: s,
		silenceable: len(matchersOf(pm.Annotations)) > 0, now: now,
	}
	switch {
	case !botEndpoint || errors.Is(cfgErr, ErrNoAPIConfig):
	case cfgErr != nil:
		sec.off = "Buttons are off: the namespace's Alertmanager Secret is invalid."
	case !cfg.Buttons:
	case !cfg.Names(pm.Annotations[ExternalURLAnnotation]):
		sec.off = "Buttons are off: this alert came from another Alertmanager than the namespace's."
	default:
		sec.buttons, sec.durations = true, cfg.Durations
	}
	return sec
}
