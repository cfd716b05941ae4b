package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/graph"
	"github.com/teams-operator/teams-operator/internal/outcome"
	"github.com/teams-operator/teams-operator/internal/status"
)

// defaultInstallationInterval is the drift-check interval when neither the spec nor the
// manager sets one.
const defaultInstallationInterval = 10 * time.Minute

// TeamsAppInstallationReconciler reconciles a TeamsAppInstallation object.
type TeamsAppInstallationReconciler struct {
	client.Client
	Recorder           events.EventRecorder
	Clients            ClientFactory
	DefaultCredentials types.NamespacedName
	Interval           time.Duration

	// installAttempts counts Graph's consecutive 400 answers to an install, which are
	// sometimes transient (https://github.com/microsoftgraph/microsoft-graph-docs/issues/20972),
	// until the retry budget runs out.
	installAttempts taiCounter
	// pendingInstalls remembers installs that Graph accepted but may not list yet (the
	// add-app call returns no id), so a slow listing never leads to a second install.
	pendingInstalls taiTimes
}

// taiScope holds what one reconcile of a TeamsAppInstallation has learned so far.
type taiScope struct {
	obj     *teamsv1alpha1.TeamsAppInstallation
	patcher *status.Patcher
	clients *Clients
	// app is the resolved catalog app, target the Graph scope it goes in.
	app    graph.TeamsApp
	target graph.Scope
	// inst is the observed installation; installedNow is true when this reconcile (or a
	// recent one whose install was not listed yet) installed it.
	inst         *graph.Installation
	installedNow bool
	// recordedInstallation is status.installationId as read, before this reconcile.
	recordedInstallation string
	// uninstalled is set by the deletion steps once nothing is left in Teams (inst is then
	// the installation they removed, if any).
	uninstalled bool
}

// +kubebuilder:rbac:groups=teams.operator.dev,resources=teamsappinstallations,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=teams.operator.dev,resources=teamsappinstallations/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=teams.operator.dev,resources=teamsappinstallations/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile installs the Teams app in the scope, keeps it installed and up to date, and
// uninstalls it on deletion (deletionPolicy Delete).
func (r *TeamsAppInstallationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := &teamsv1alpha1.TeamsAppInstallation{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	f := outcome.Begin(r.Client, r.Recorder, obj)
	defer func() { result, retErr = f.Finish(ctx, result, retErr) }()

	s := &taiScope{obj: obj, patcher: f.Patcher(), recordedInstallation: obj.Status.InstallationID}
	if !obj.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	return r.handleError(ctx, s, outcome.Run(ctx, s,
		r.validate,
		r.connect,
		r.resolveApp,
		r.resolveTarget,
		r.observe,
		r.reportChat,
		r.upgrade,
		r.welcome, // spec.welcome, once per object (teamsappinstallation_welcome.go)
		r.markReady,
	))
}

// reconcileDelete uninstalls the app (deletionPolicy Delete) and then releases the object.
func (r *TeamsAppInstallationReconciler) reconcileDelete(ctx context.Context, s *taiScope) (ctrl.Result, error) {
	obj := s.obj
	if !controllerutil.ContainsFinalizer(obj, teamsv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if taiDeletionPolicy(obj) == teamsv1alpha1.DeletionPolicyDelete && obj.Status.Adopted {
		// Someone else's installation: uninstalling it would let one namespace remove the bot
		// from another's team.
		r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, teamsv1alpha1.NotUninstalledReason, "Uninstall",
			"Left app %s installed in %s: this object adopted an installation it did not make", obj.Status.TeamsAppID, taiScopeText(obj))
	} else if taiDeletionPolicy(obj) == teamsv1alpha1.DeletionPolicyDelete {
		res, err := r.handleError(ctx, s, outcome.Run(ctx, s, r.connect, r.uninstall))
		if !s.uninstalled {
			return r.deletionBlocked(s, res, err)
		}
		if s.inst != nil {
			r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, teamsv1alpha1.UninstalledReason, "Uninstall",
				"Uninstalled app %s from %s", s.app.ID, taiScopeText(obj))
		}
	}
	ctrl.LoggerFrom(ctx).Info("Removing finalizer")
	controllerutil.RemoveFinalizer(obj, teamsv1alpha1.Finalizer)
	r.installAttempts.reset(obj.UID)
	r.pendingInstalls.reset(obj.UID)
	return ctrl.Result{}, nil
}

// deletionBlocked explains why the uninstall has not happened and keeps retrying: a person
// can fix the cause, or remove the finalizer to give up on the uninstall.
func (r *TeamsAppInstallationReconciler) deletionBlocked(s *taiScope, res ctrl.Result, err error) (ctrl.Result, error) {
	why := "Uninstalling the app"
	if c := status.ReadyCondition(s.obj); c != nil && c.Status == metav1.ConditionFalse && c.Reason != teamsv1alpha1.DeletingReason {
		why = fmt.Sprintf("Cannot uninstall the app yet (%s): %s", c.Reason, c.Message)
	}
	status.MarkProgressing(s.obj, teamsv1alpha1.DeletingReason, why+" To delete this object without uninstalling, "+
		"remove the finalizer "+teamsv1alpha1.Finalizer+" by hand.")
	if err == nil && res.IsZero() {
		res.RequeueAfter = taiExternalRetry(r.interval(s.obj))
	}
	return res, err
}

// SetupWithManager sets up the controller with the Manager: it watches TeamsAppInstallations
// (spec changes, annotations as a manual trigger, deletion) and their credentials Secrets.
func (r *TeamsAppInstallationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clients == nil || r.Recorder == nil {
		return errors.New("setting up the TeamsAppInstallation controller: Clients and Recorder are required")
	}
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &teamsv1alpha1.TeamsAppInstallation{}, credentialsIndex,
		func(o client.Object) []string {
			return []string{credentialsKey(o.(*teamsv1alpha1.TeamsAppInstallation).Spec.CredentialsRef)}
		})
	if err != nil {
		return fmt.Errorf("indexing TeamsAppInstallations by credentials: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&teamsv1alpha1.TeamsAppInstallation{}, builder.WithPredicates(predicate.Or[client.Object](
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, taiDeletionStarted())))
	return watchCredentials(b, mgr.GetClient(), &teamsv1alpha1.TeamsAppInstallationList{}, r.DefaultCredentials).Complete(r)
}

// taiDeletionStarted passes the update that sets deletionTimestamp.
func taiDeletionStarted() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
	}}
}

func taiDeletionPolicy(obj *teamsv1alpha1.TeamsAppInstallation) teamsv1alpha1.DeletionPolicy {
	if obj.Spec.DeletionPolicy == teamsv1alpha1.DeletionPolicyOrphan {
		return teamsv1alpha1.DeletionPolicyOrphan
	}
	return teamsv1alpha1.DeletionPolicyDelete
}

// interval is the object's drift-check interval.
func (r *TeamsAppInstallationReconciler) interval(obj *teamsv1alpha1.TeamsAppInstallation) time.Duration {
	switch {
	case obj.Spec.Interval != nil && obj.Spec.Interval.Duration > 0:
		return obj.Spec.Interval.Duration
	case r.Interval > 0:
		return r.Interval
	}
	return defaultInstallationInterval
}
