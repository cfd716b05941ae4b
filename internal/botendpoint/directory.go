package botendpoint

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/controller"
)

// Directory finds the objects an activity may touch. An activity is for one bot (its
// authenticated recipient) in one tenant; it only ever affects objects whose credentials are
// that bot (clientId) in that tenant (tenantId), so a namespace never sees, or changes, what
// belongs to another bot or another tenant.
type Directory struct {
	// Reader lists TeamsAppInstallations and ConversationTargets (the manager's cache).
	Reader client.Reader
	// Clients resolves an object's credentials, with the same rules as the controllers
	// (shared-credentials policy, Secret scope).
	Clients controller.ClientFactory
}

// Credentials of one object, as far as activities are concerned.
type credentialsKey struct {
	namespace string
	ref       string // "" is the manager's default credentials
}

// KnownBot implements Bots: true when some object's credentials have appID as client id.
func (d *Directory) KnownBot(ctx context.Context, appID string) (bool, error) {
	keys, err := d.credentialKeys(ctx)
	if err != nil {
		return false, err
	}
	for k := range keys {
		if got, _, ok := d.resolve(ctx, k); ok && got == appID {
			return true, nil
		}
	}
	return false, nil
}

// ClientsFor returns the clients of credentials that are bot appID in tenantID (any object's).
func (d *Directory) ClientsFor(ctx context.Context, appID, tenantID string) (*controller.Clients, error) {
	keys, err := d.credentialKeys(ctx)
	if err != nil {
		return nil, err
	}
	for k := range keys {
		var ref *teamsv1alpha1.LocalObjectReference
		if k.ref != "" {
			ref = &teamsv1alpha1.LocalObjectReference{Name: k.ref}
		}
		if c, err := d.Clients.For(ctx, k.namespace, ref); err == nil && c.AppID == appID && c.TenantID == tenantID {
			return c, nil
		}
	}
	return nil, fmt.Errorf("no credentials of bot %s in tenant %s", appID, tenantID)
}

// Matches reports whether an object with these credentials belongs to bot appID in tenantID.
func (d *Directory) Matches(ctx context.Context, namespace string, ref *teamsv1alpha1.LocalObjectReference, appID, tenantID string) bool {
	gotApp, gotTenant, ok := d.resolve(ctx, keyOf(namespace, ref))
	return ok && gotApp == appID && gotTenant == tenantID
}

func keyOf(namespace string, ref *teamsv1alpha1.LocalObjectReference) credentialsKey {
	k := credentialsKey{namespace: namespace}
	if ref != nil {
		k.ref = ref.Name
	}
	return k
}

// resolve returns the client and tenant id of credentials; ok is false when they cannot be used
// (missing Secret, a namespace not allowed the default credentials, ...).
func (d *Directory) resolve(ctx context.Context, k credentialsKey) (appID, tenantID string, ok bool) {
	var ref *teamsv1alpha1.LocalObjectReference
	if k.ref != "" {
		ref = &teamsv1alpha1.LocalObjectReference{Name: k.ref}
	}
	c, err := d.Clients.For(ctx, k.namespace, ref)
	if err != nil || c == nil {
		return "", "", false
	}
	return c.AppID, c.TenantID, true
}

// credentialKeys lists the distinct credentials the operator's objects use.
func (d *Directory) credentialKeys(ctx context.Context) (map[credentialsKey]struct{}, error) {
	keys := map[credentialsKey]struct{}{}
	var installs teamsv1alpha1.TeamsAppInstallationList
	if err := d.Reader.List(ctx, &installs); err != nil {
		return nil, fmt.Errorf("listing TeamsAppInstallations: %w", err)
	}
	for i := range installs.Items {
		keys[keyOf(installs.Items[i].Namespace, installs.Items[i].Spec.CredentialsRef)] = struct{}{}
	}
	var targets teamsv1alpha1.ConversationTargetList
	if err := d.Reader.List(ctx, &targets); err != nil {
		return nil, fmt.Errorf("listing ConversationTargets: %w", err)
	}
	for i := range targets.Items {
		keys[keyOf(targets.Items[i].Namespace, targets.Items[i].Spec.CredentialsRef)] = struct{}{}
	}
	return keys, nil
}
