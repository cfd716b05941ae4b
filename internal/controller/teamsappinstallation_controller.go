package controller

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// TeamsAppInstallationReconciler reconciles a TeamsAppInstallation object.
type TeamsAppInstallationReconciler struct {
	client.Client
	Recorder           events.EventRecorder
	Clients            ClientFactory
	DefaultCredentials types.NamespacedName
	Interval           time.Duration
}

// Reconcile is not implemented yet.
func (r *TeamsAppInstallationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return ctrl.Result{}, nil
}

// SetupWithManager sets up the controller with the Manager.
func (r *TeamsAppInstallationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&teamsv1alpha1.TeamsAppInstallation{}).Complete(r)
}
