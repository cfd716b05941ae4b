package controller

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/graph"
	"github.com/teams-operator/teams-operator/internal/msapi"
	"github.com/teams-operator/teams-operator/internal/outcome"
	"github.com/teams-operator/teams-operator/internal/status"
)

const (
	// installGracePeriod is how long an accepted install may stay unlisted before the
	// operator concludes it did not happen and installs again.
	installGracePeriod = 30 * time.Second
	// installPollInterval is how soon a not-yet-listed install is looked for again.
	installPollInterval = 2 * time.Second
)

// validate mirrors the CRD's CEL rules, for API servers that do not enforce them.
func (r *TeamsAppInstallationReconciler) validate(_ context.Context, s *taiScope) error {
	if err := validateInstallationSpec(&s.obj.Spec); err != nil {
		return outcome.Stall(teamsv1alpha1.InvalidSpecReason, err.Error())
	}
	return nil
}

// connect gets the Microsoft clients of the object's credentials.
func (r *TeamsAppInstallationReconciler) connect(ctx context.Context, s *taiScope) error {
	clients, err := r.Clients.For(ctx, s.obj.Namespace, s.obj.Spec.CredentialsRef)
	if err != nil {
		return err
	}
	s.clients = clients
	return taiCloudSupports(s)
}

// taiCloudSupports refuses, before any call, an installation the configured cloud's Graph cannot
// manage (cloud.Endpoints.AppInstallationUnsupported), naming what to do instead.
func taiCloudSupports(s *taiScope) error {
	why := s.clients.Cloud.AppInstallationUnsupported(string(taiScopeKind(s.obj)))
	if why == "" || !s.obj.DeletionTimestamp.IsZero() {
		return nil
	}
	instead := "install the app for users with a Teams app setup policy (or let them add it), and use a " +
		"ConversationTarget with spec.user: it creates the 1:1 chat through the Bot Framework"
	if s.obj.Spec.Scope.User == nil {
		instead = "install the app in Teams (admin center or client), and use a ConversationTarget with " +
			"spec.conversation (the id of an inbound activity's conversation) or spec.user"
	}
	return outcome.Stall(teamsv1alpha1.NotSupportedInCloudReason, fmt.Sprintf(
		"%s (Microsoft Teams API implementation differences in national clouds): %s", why, instead))
}

// resolveApp finds the app in the organization's catalog and records its catalog id.
func (r *TeamsAppInstallationReconciler) resolveApp(ctx context.Context, s *taiScope) error {
	app, err := taiFindCatalogApp(ctx, s.clients.Graph, s.obj.Spec.App)
	if err != nil {
		return err
	}
	s.app = app
	s.obj.Status.TeamsAppID = app.ID
	return nil
}

func taiFindCatalogApp(ctx context.Context, g graph.Interface, ref teamsv1alpha1.TeamsAppReference) (graph.TeamsApp, error) {
	const publish = "publish it to the catalog (Teams admin center, Manage apps, Upload) or fix spec.app"
	if ref.TeamsAppID != "" {
		app, err := g.GetCatalogApp(ctx, ref.TeamsAppID)
		if msapi.IsNotFound(err) {
			return app, taiStallExternal(teamsv1alpha1.AppNotFoundReason,
				"App %s is not in the organization's app catalog: %s.teamsAppId", ref.TeamsAppID, publish)
		}
		if err != nil {
			return app, fmt.Errorf("getting catalog app %s: %w", ref.TeamsAppID, err)
		}
		return app, nil
	}
	apps, err := g.FindCatalogAppsByExternalID(ctx, ref.ExternalID)
	if err != nil {
		return graph.TeamsApp{}, fmt.Errorf("finding catalog apps with externalId %s: %w", ref.ExternalID, err)
	}
	switch len(apps) {
	case 0:
		return graph.TeamsApp{}, taiStallExternal(teamsv1alpha1.AppNotFoundReason,
			"No app with externalId %s is in the organization's app catalog: %s.externalId (a store app has no "+
				"externalId: use spec.app.teamsAppId)", ref.ExternalID, publish)
	case 1:
		return apps[0], nil
	}
	ids := make([]string, 0, len(apps))
	for _, a := range apps {
		ids = append(ids, a.ID)
	}
	return graph.TeamsApp{}, taiStallExternal(teamsv1alpha1.AdoptionConflictReason,
		"%d catalog apps have externalId %s (%s): set spec.app.teamsAppId to the one to install",
		len(apps), ref.ExternalID, strings.Join(ids, ", "))
}

// resolveTarget turns the spec's scope into a Graph scope; a user's UPN becomes its object id.
func (r *TeamsAppInstallationReconciler) resolveTarget(ctx context.Context, s *taiScope) error {
	sc := s.obj.Spec.Scope
	st := &s.obj.Status
	switch {
	case sc.Team != nil:
		s.target = graph.Scope{Kind: graph.ScopeTeam, ID: sc.Team.ID}
		st.UserID, st.ChatID = "", "" // left over if the scope was changed
	case sc.Chat != nil:
		s.target = graph.Scope{Kind: graph.ScopeChat, ID: sc.Chat.ID}
		st.UserID, st.ChatID = "", sc.Chat.ID
	case sc.User != nil:
		userID, err := taiResolveUser(ctx, s.clients.Graph, sc.User)
		if err != nil {
			return err
		}
		s.target = graph.Scope{Kind: graph.ScopeUser, ID: userID}
		st.UserID = userID
	}
	return nil
}

func taiResolveUser(ctx context.Context, g graph.Interface, u *teamsv1alpha1.UserScope) (string, error) {
	if u.ID != "" {
		return u.ID, nil
	}
	user, err := g.GetUser(ctx, u.UserPrincipalName)
	if msapi.IsNotFound(err) {
		return "", taiStallExternal(teamsv1alpha1.UserNotFoundReason,
			"User %s was not found in the tenant: fix spec.scope.user.userPrincipalName", u.UserPrincipalName)
	}
	if err != nil {
		return "", fmt.Errorf("getting user %s: %w", u.UserPrincipalName, err)
	}
	return user.ID, nil
}

// observe lists the app's installations in the scope: one is adopted, none means install
// (and list again, since the install returns no id), more than one is a conflict.
func (r *TeamsAppInstallationReconciler) observe(ctx context.Context, s *taiScope) error {
	insts, err := r.listInstallations(ctx, s)
	if err != nil {
		return err
	}
	if len(insts) == 0 {
		if err := r.install(ctx, s); err != nil {
			return err
		}
		if insts, err = r.listInstallations(ctx, s); err != nil {
			return err
		}
	}
	switch len(insts) {
	case 0:
		return taiWaitForInstall()
	case 1:
	default:
		return taiStallExternal(teamsv1alpha1.AdoptionConflictReason,
			"%d installations of app %s in %s: remove the extra ones in Teams", len(insts), s.app.ID, taiScopeText(s.obj))
	}
	s.inst = &insts[0]
	if _, pending := r.pendingInstalls.get(s.obj.UID); pending {
		s.installedNow = true
		r.pendingInstalls.reset(s.obj.UID)
	}
	if err := r.ensureFinalizer(ctx, s); err != nil {
		return err
	}
	r.reportObserved(ctx, s)
	return nil
}

func (r *TeamsAppInstallationReconciler) listInstallations(ctx context.Context, s *taiScope) ([]graph.Installation, error) {
	insts, err := s.clients.Graph.ListInstalledApps(ctx, s.target, s.app.ID)
	if msapi.IsNotFound(err) {
		return nil, taiScopeNotFound(s.obj)
	}
	if err != nil {
		return nil, fmt.Errorf("listing installations of app %s in %s: %w", s.app.ID, taiScopeText(s.obj), err)
	}
	return insts, nil
}

// install adds the app, after persisting the finalizer, unless an install of ours is still
// within its grace period (then it waits for the listing instead).
func (r *TeamsAppInstallationReconciler) install(ctx context.Context, s *taiScope) error {
	log := ctrl.LoggerFrom(ctx)
	if s.obj.Status.InstallationID != "" {
		log.Info("Installation is missing, installing again", "installationId", s.obj.Status.InstallationID)
		s.obj.Status.InstallationID, s.obj.Status.Version = "", ""
	}
	if at, ok := r.pendingInstalls.get(s.obj.UID); ok && time.Since(at) < installGracePeriod {
		return taiWaitForInstall()
	}
	if err := r.ensureFinalizer(ctx, s); err != nil {
		return err
	}
	log.Info("Installing app", "teamsAppId", s.app.ID, "scope", taiScopeText(s.obj))
	err := s.clients.Graph.InstallApp(ctx, s.target, s.app.ID, taiGraphPermissions(s.obj.Spec.ConsentedPermissions))
	switch {
	case msapi.IsConflict(err):
		log.V(1).Info("App is installed already")
	case err != nil:
		return fmt.Errorf("installing app %s in %s: %w", s.app.ID, taiScopeText(s.obj), err)
	}
	r.installAttempts.reset(s.obj.UID)
	r.pendingInstalls.set(s.obj.UID, time.Now())
	return nil
}

func taiWaitForInstall() error {
	return outcome.Wait(teamsv1alpha1.ProgressingReason,
		"Waiting for the new installation to appear in Microsoft Graph", installPollInterval)
}

// ensureFinalizer persists the finalizer before the first external write (deletionPolicy
// Delete), or drops it (Orphan: deleting the object leaves Teams alone).
func (r *TeamsAppInstallationReconciler) ensureFinalizer(ctx context.Context, s *taiScope) error {
	if taiDeletionPolicy(s.obj) == teamsv1alpha1.DeletionPolicyOrphan {
		controllerutil.RemoveFinalizer(s.obj, teamsv1alpha1.Finalizer)
		return nil
	}
	if !controllerutil.AddFinalizer(s.obj, teamsv1alpha1.Finalizer) {
		return nil
	}
	ctrl.LoggerFrom(ctx).V(1).Info("Adding finalizer")
	if err := s.patcher.PatchMetadataLocked(ctx, s.obj); err != nil {
		return fmt.Errorf("adding finalizer: %w", err)
	}
	return nil
}

// reportObserved records the observed installation and announces what changed in Teams.
func (r *TeamsAppInstallationReconciler) reportObserved(ctx context.Context, s *taiScope) {
	obj := s.obj
	obj.Status.InstallationID = s.inst.ID
	obj.Status.Version = s.inst.Definition.Version
	switch {
	case s.installedNow:
		obj.Status.Adopted = false // this object installed it: its own to uninstall
		if s.recordedInstallation != "" {
			r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, teamsv1alpha1.ReinstalledReason, "Install",
				"App %s was missing from %s (removed in Teams or by an admin) and was installed again", s.app.ID, taiScopeText(obj))
		}
	case s.recordedInstallation != s.inst.ID:
		// Someone else's installation (another namespace's, an admin's): never uninstalled by
		// this object, or one namespace could remove the bot from another's team.
		obj.Status.Adopted = true
		ctrl.LoggerFrom(ctx).Info("Adopting existing installation", "installationId", s.inst.ID)
		r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, teamsv1alpha1.AdoptedReason, "Adopt",
			"Adopted the existing installation of app %s in %s", s.app.ID, taiScopeText(obj))
	}
}

// reportChat records the chat to send to: the user's 1:1 chat with the bot (user scope).
func (r *TeamsAppInstallationReconciler) reportChat(ctx context.Context, s *taiScope) error {
	obj := s.obj
	if s.target.Kind != graph.ScopeUser || (obj.Status.ChatID != "" && s.recordedInstallation == s.inst.ID) {
		return nil
	}
	chatID, err := s.clients.Graph.GetInstallationChat(ctx, s.target.ID, s.inst.ID)
	if msapi.IsNotFound(err) {
		return r.forgetInstallation(ctx, s)
	}
	if err != nil {
		return fmt.Errorf("getting the chat of installation %s: %w", s.inst.ID, err)
	}
	obj.Status.ChatID = chatID
	return nil
}

// forgetInstallation clears an installation id that Graph no longer knows and observes again.
func (r *TeamsAppInstallationReconciler) forgetInstallation(ctx context.Context, s *taiScope) error {
	ctrl.LoggerFrom(ctx).Info("Installation not found, observing again", "installationId", s.inst.ID)
	s.obj.Status.InstallationID, s.obj.Status.Version = "", ""
	if s.target.Kind == graph.ScopeUser {
		s.obj.Status.ChatID = ""
	}
	return outcome.Wait(teamsv1alpha1.ProgressingReason, "The installation disappeared; observing it again", time.Second)
}

// upgrade moves the installation to the catalog's published version, or to the spec's
// consented permissions, unless upgradePolicy is Manual.
func (r *TeamsAppInstallationReconciler) upgrade(ctx context.Context, s *taiScope) error {
	if s.obj.Spec.UpgradePolicy == teamsv1alpha1.UpgradePolicyManual {
		return nil
	}
	want := taiPublishedVersion(s.app)
	have := s.inst.Definition.Version
	newVersion := want != "" && want != have
	if !newVersion {
		differ, err := r.consentDiffers(ctx, s)
		if err != nil || !differ {
			return err
		}
	}
	ctrl.LoggerFrom(ctx).Info("Upgrading installation", "installationId", s.inst.ID, "from", have, "to", want)
	err := s.clients.Graph.UpgradeApp(ctx, s.target, s.inst.ID, taiGraphPermissions(s.obj.Spec.ConsentedPermissions))
	if msapi.IsNotFound(err) {
		return r.forgetInstallation(ctx, s)
	}
	if err != nil {
		return fmt.Errorf("upgrading installation %s: %w", s.inst.ID, err)
	}
	if newVersion {
		s.obj.Status.Version = want
	}
	r.Recorder.Eventf(s.obj, nil, corev1.EventTypeNormal, teamsv1alpha1.UpgradedReason, "Upgrade",
		"Upgraded app %s in %s from version %s to %s", s.app.ID, taiScopeText(s.obj), have, s.obj.Status.Version)
	return nil
}

// consentDiffers reads the installation's consented RSC permissions (only when the spec names
// some) and compares them with the spec's. Graph returns consentedPermissionSet only when
// selected, so the listing never carries it.
func (r *TeamsAppInstallationReconciler) consentDiffers(ctx context.Context, s *taiScope) (bool, error) {
	if len(s.obj.Spec.ConsentedPermissions) == 0 {
		return false, nil
	}
	have, err := s.clients.Graph.GetConsentedPermissions(ctx, s.target, s.inst.ID)
	if msapi.IsNotFound(err) {
		return false, nil // the next drift check observes the missing installation
	}
	if err != nil {
		return false, fmt.Errorf("reading the consented permissions of installation %s: %w", s.inst.ID, err)
	}
	return taiPermissionsDiffer(s.obj.Spec.ConsentedPermissions, have), nil
}

// markReady reports success and schedules the next drift check.
func (r *TeamsAppInstallationReconciler) markReady(_ context.Context, s *taiScope) error {
	r.installAttempts.reset(s.obj.UID)
	status.MarkReady(s.obj, teamsv1alpha1.InstalledReason,
		fmt.Sprintf("Installed in %s, version %s", taiScopeText(s.obj), s.obj.Status.Version))
	return outcome.Requeue(taiJitter(r.interval(s.obj), rand.Float64())) //nolint:gosec // jitter needs no crypto
}

// uninstall removes every installation of the app from the scope (deletion, policy Delete).
// Anything already gone (the app, the user, the scope, the installation) counts as done.
func (r *TeamsAppInstallationReconciler) uninstall(ctx context.Context, s *taiScope) error {
	appID := s.obj.Status.TeamsAppID
	if appID == "" {
		app, err := taiFindCatalogApp(ctx, s.clients.Graph, s.obj.Spec.App)
		if err != nil {
			return taiGone(s, err)
		}
		appID = app.ID
	}
	s.app = graph.TeamsApp{ID: appID}
	if s.obj.Status.UserID != "" {
		s.target = graph.Scope{Kind: graph.ScopeUser, ID: s.obj.Status.UserID}
	} else if err := r.resolveTarget(ctx, s); err != nil {
		return taiGone(s, err)
	}
	insts, err := r.listInstallations(ctx, s)
	if err != nil {
		return taiGone(s, err)
	}
	for _, in := range insts {
		if id := s.obj.Status.InstallationID; id != "" && in.ID != id {
			continue // not the installation this object made
		}
		ctrl.LoggerFrom(ctx).Info("Uninstalling app", "installationId", in.ID)
		if err := s.clients.Graph.UninstallApp(ctx, s.target, in.ID); err != nil && !msapi.IsNotFound(err) {
			return fmt.Errorf("uninstalling installation %s: %w", in.ID, err)
		}
		s.inst = &in
	}
	s.uninstalled = true
	return nil
}

// gone marks the deletion done when err says the app or the scope no longer exists, and
// returns err otherwise.
func taiGone(s *taiScope, err error) error {
	if o, ok := outcome.As(err); ok && o.Kind == outcome.Stalled {
		switch o.Reason {
		case teamsv1alpha1.AppNotFoundReason, teamsv1alpha1.UserNotFoundReason, teamsv1alpha1.ExternalNotFoundReason:
			s.uninstalled = true
			return nil
		}
	}
	return err
}

func taiScopeNotFound(obj *teamsv1alpha1.TeamsAppInstallation) error {
	if obj.Spec.Scope.User != nil {
		return taiStallExternal(teamsv1alpha1.UserNotFoundReason,
			"%s was not found in the tenant: fix spec.scope.user", strings.ToUpper(taiScopeText(obj)[:1])+taiScopeText(obj)[1:])
	}
	return taiStallExternal(teamsv1alpha1.ExternalNotFoundReason,
		"%s was not found in the tenant, or the bot's app cannot see it: fix spec.scope",
		strings.ToUpper(taiScopeText(obj)[:1])+taiScopeText(obj)[1:])
}
