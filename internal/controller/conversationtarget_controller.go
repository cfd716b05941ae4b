package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/outcome"
	"github.com/teams-operator/teams-operator/internal/policy"
	"github.com/teams-operator/teams-operator/internal/ratelimit"
	"github.com/teams-operator/teams-operator/internal/status"
)

// targetInstallationRefIndex indexes ConversationTargets by the TeamsAppInstallation they take
// their chat from, so an installation that becomes Ready wakes exactly its targets.
const targetInstallationRefIndex = ".spec.installationRef.name"

// targetNotInstalledRecheck is how often a target whose bot is not installed looks again:
// the app may be installed outside the cluster (Teams admin center, the user), which no
// watch sees.
const targetNotInstalledRecheck = 30 * time.Second

// ConversationTargetReconciler reconciles a ConversationTarget object.
type ConversationTargetReconciler struct {
	client.Client
	Recorder           events.EventRecorder
	Clients            ClientFactory
	DefaultCredentials types.NamespacedName
	// Interval is how often a target waiting for the bot to be installed looks again;
	// zero means 30s.
	Interval time.Duration
	// Reach reads the ReachPolicies of a namespace; nil: no policy applies.
	Reach *policy.Reader
}

// targetScope holds what the steps of one reconcile share.
type targetScope struct {
	target     *teamsv1alpha1.ConversationTarget
	clients    *Clients
	serviceURL string
	tenantID   string
}

// +kubebuilder:rbac:groups=teams.operator.dev,resources=conversationtargets,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=teams.operator.dev,resources=conversationtargets/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=teams.operator.dev,resources=teamsappinstallations,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile resolves a ConversationTarget once: it finds or creates the conversation and
// stores its id, service URL, tenant and kind in status.
func (r *ConversationTargetReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	target := &teamsv1alpha1.ConversationTarget{}
	if err := r.Get(ctx, req.NamespacedName, target); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// Resolve once: a Ready status for this generation is final, so no Microsoft call and no
	// write, while the ReachPolicies still allow it (a cache read).
	if (target.Status.ConversationID != "" || target.Status.Kind == targetKindAudience) && status.IsReady(target) {
		if refusal, err := reachRefusal(ctx, r.Client, r.Reach, target); err != nil || refusal == nil {
			return ctrl.Result{}, err
		}
	}
	// Creating a 1:1 conversation is a Connector call: it waits at the app limiter in this
	// namespace's turn, at Normal priority.
	ctx = ratelimit.WithTurn(ctx, ratelimit.Turn{Namespace: target.Namespace})
	f := outcome.Begin(r.Client, r.Recorder, target)
	f.NewGenerationIsNews() // a new spec: its outcome is news even if it matches the old one's
	defer func() { result, retErr = f.Finish(ctx, result, retErr) }()
	// No finalizer: a conversation cannot be deleted, so there is nothing to clean up.
	if !target.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	// A previous resolution describes an older spec: forget it until this one is resolved.
	target.Status.ConversationID, target.Status.ServiceURL = "", ""
	target.Status.TenantID, target.Status.Kind = "", ""

	s := &targetScope{target: target}
	err := outcome.Run(ctx, s, r.validate, r.checkReach, r.loadCredentials, r.checkServiceURL, r.resolve)
	return outcome.Apply(ctx, target, externalRecheck(target, err, targetPermissionRecheck), err)
}

// validate mirrors the CRD's CEL rules for API servers that do not enforce them.
func (r *ConversationTargetReconciler) validate(_ context.Context, s *targetScope) error {
	if err := validateConversationTargetSpec(&s.target.Spec); err != nil {
		return outcome.Stall(teamsv1alpha1.InvalidSpecReason, err.Error())
	}
	return nil
}

// checkReach refuses a target that a ReachPolicy of its namespace does not allow, before any
// Microsoft call. A policy change wakes every target (SetupWithManager).
func (r *ConversationTargetReconciler) checkReach(ctx context.Context, s *targetScope) error {
	refusal, err := reachRefusal(ctx, r.Client, r.Reach, s.target)
	if err != nil {
		return err
	}
	if refusal != nil {
		return outcome.Stall(refusal.Reason, refusal.Message)
	}
	return nil
}

// loadCredentials gets the Microsoft clients of the target's credentials.
func (r *ConversationTargetReconciler) loadCredentials(ctx context.Context, s *targetScope) error {
	clients, err := r.Clients.For(ctx, s.target.Namespace, s.target.Spec.CredentialsRef)
	if ce, ok := AsCredentialsError(err); ok {
		// The Secret watch wakes the target when the Secret appears or changes.
		return outcome.Stall(ce.Reason, ce.Message)
	}
	if err != nil {
		return fmt.Errorf("loading credentials: %w", err)
	}
	s.clients = clients
	s.tenantID = s.target.Spec.TenantID
	if s.tenantID == "" {
		s.tenantID = clients.TenantID
	}
	return nil
}

// checkServiceURL applies the service URL policy before anything talks to the Connector,
// so a refused URL never receives a token.
func (r *ConversationTargetReconciler) checkServiceURL(_ context.Context, s *targetScope) error {
	s.serviceURL = s.target.Spec.ServiceURL
	if s.serviceURL == "" {
		s.serviceURL = s.clients.DefaultServiceURL
	}
	if _, err := s.clients.Policy.Check(s.serviceURL); err != nil {
		return outcome.Stallf(teamsv1alpha1.ServiceURLRefusedReason,
			"%v: set spec.serviceUrl to the service URL Teams sent the bot (https on a Teams service host), or leave it out", err)
	}
	return nil
}

// resolve finds the conversation of the target's kind.
func (r *ConversationTargetReconciler) resolve(ctx context.Context, s *targetScope) error {
	spec := &s.target.Spec
	switch {
	case spec.User != nil:
		return r.resolveUser(ctx, s)
	case spec.Channel != nil:
		return r.resolveChannel(ctx, s)
	case spec.Chat != nil:
		return r.resolveChat(ctx, s)
	case spec.Conversation != nil:
		s.ready(teamsv1alpha1.ResolvedReason, targetConversationKind(spec.Conversation.ID), spec.Conversation.ID, s.serviceURL)
		return nil
	case spec.InstallationRef != nil:
		return r.resolveInstallationRef(ctx, s)
	case spec.Audience != nil:
		return r.resolveAudience(ctx, s)
	}
	return nil
}

// SetupWithManager sets up the controller with the Manager: the target itself, its
// credentials Secret, and the TeamsAppInstallations that can make it resolvable.
func (r *ConversationTargetReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clients == nil || r.Client == nil {
		return errors.New("ConversationTarget reconciler needs a client and a client factory")
	}
	indexer := mgr.GetFieldIndexer()
	ctx := context.Background()
	if err := indexer.IndexField(ctx, &teamsv1alpha1.ConversationTarget{}, credentialsIndex,
		func(o client.Object) []string {
			return []string{credentialsKey(o.(*teamsv1alpha1.ConversationTarget).Spec.CredentialsRef)}
		}); err != nil {
		return fmt.Errorf("indexing ConversationTargets by credentials: %w", err)
	}
	if err := indexer.IndexField(ctx, &teamsv1alpha1.ConversationTarget{}, targetInstallationRefIndex,
		func(o client.Object) []string {
			if ref := o.(*teamsv1alpha1.ConversationTarget).Spec.InstallationRef; ref != nil {
				return []string{ref.Name}
			}
			return nil
		}); err != nil {
		return fmt.Errorf("indexing ConversationTargets by installation: %w", err)
	}
	// Our own status writes do not requeue the target (generation unchanged); an annotation
	// change does, so a person can ask a waiting target to look again now.
	b := ctrl.NewControllerManagedBy(mgr).
		For(&teamsv1alpha1.ConversationTarget{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&teamsv1alpha1.TeamsAppInstallation{}, handler.EnqueueRequestsFromMapFunc(r.targetsForInstallation)).
		Watches(&teamsv1alpha1.ReachPolicy{}, handler.EnqueueRequestsFromMapFunc(targetsOfAllNamespaces(mgr.GetClient()))).
		Named("conversationtarget")
	return watchCredentials(b, mgr.GetClient(), &teamsv1alpha1.ConversationTargetList{}, r.DefaultCredentials).Complete(r)
}

// targetsForInstallation returns the targets an installation change can unblock: those that
// name it, and the unresolved user, channel and chat targets of its namespace (the bot may
// now be installed where they need it).
func (r *ConversationTargetReconciler) targetsForInstallation(ctx context.Context, inst client.Object) []reconcile.Request {
	reqs := requestsFor(ctx, r.Client, &teamsv1alpha1.ConversationTargetList{},
		client.InNamespace(inst.GetNamespace()), client.MatchingFields{targetInstallationRefIndex: inst.GetName()})
	list := &teamsv1alpha1.ConversationTargetList{}
	if err := r.List(ctx, list, client.InNamespace(inst.GetNamespace())); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing ConversationTargets to requeue")
		return reqs
	}
	for i := range list.Items {
		t := &list.Items[i]
		needsBot := t.Spec.User != nil || t.Spec.Channel != nil || t.Spec.Chat != nil
		if needsBot && !status.IsReady(t) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(t)})
		}
	}
	return reqs
}
