package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/auth"
)

// The manager reads Namespace labels (metadata only) to decide which namespaces may use the
// credentials it holds itself.
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// SharedCredentialsFlag is the manager flag that sets SharedCredentials.Selector.
const SharedCredentialsFlag = "--shared-credentials-namespace-selector" //nolint:gosec // G101: a flag name, not a credential

// SharedCredentials decides which namespaces may use what the manager holds rather than the
// namespace: its default credentials (--default-credentials) and its workload identity (the
// federated token, used for a Secret with only tenantId and clientId). Without it any namespace
// could send as those bots. A Namespace's labels are set by whoever may edit the Namespace, the
// platform team, not by a namespace's users with the edit role.
type SharedCredentials struct {
	// Namespaces reads Namespace metadata (the manager's cache).
	Namespaces client.Reader
	// Live, when set, reads a Namespace the cache does not show yet (see namespaceLabels).
	Live client.Reader
	// Selector selects the namespaces allowed; nil or Nothing allows none.
	Selector labels.Selector
}

// check returns a CredentialsError unless namespace may use what.
func (p *SharedCredentials) check(ctx context.Context, namespace, what string) error {
	if p == nil {
		return nil // no policy: every namespace (tests that do not exercise it)
	}
	allowed := false
	if p.Selector != nil && !p.Selector.Empty() {
		set, found, err := namespaceLabels(ctx, p.Namespaces, p.Live, namespace)
		if err != nil {
			return err
		}
		allowed = found && p.Selector.Matches(set)
	} else if p.Selector != nil && p.Selector.Empty() {
		allowed = true // an explicit empty selector: every namespace
	}
	if allowed {
		return nil
	}
	return &CredentialsError{
		Reason: teamsv1alpha1.CredentialsNotAllowedReason,
		Message: fmt.Sprintf("%s may not be used from namespace %s: the platform team allows them only in "+
			"namespaces matching %q (%s); use a credentials Secret of this namespace in spec.credentialsRef",
			what, namespace, p.describe(), SharedCredentialsFlag),
	}
}

func (p *SharedCredentials) describe() string {
	if p.Selector == nil {
		return "<none>"
	}
	return p.Selector.String()
}

// usesWorkloadIdentity reports a Secret that names an app but proves nothing itself, so the
// manager would prove it with its own federated token.
func usesWorkloadIdentity(data map[string][]byte, federatedTokenFile string) bool {
	if federatedTokenFile == "" {
		return false
	}
	for _, k := range []string{auth.KeyClientSecret, auth.KeyCertificate, auth.KeyPrivateKey} {
		if _, ok := data[k]; ok {
			return false
		}
	}
	return true
}

// SecretScope is where the manager may read Secrets, when the platform team narrowed it: only
// in Namespaces (its cache watches only those, and a Role per namespace is enough), and only
// Secrets matching Selector (the cache sees no others, so an unlabelled Secret is not found).
type SecretScope struct {
	Namespaces []string
	Selector   string
}

// check refuses a Secret outside Namespaces, which the cache cannot answer for.
func (s SecretScope) check(key types.NamespacedName) error {
	if len(s.Namespaces) == 0 || slices.Contains(s.Namespaces, key.Namespace) {
		return nil
	}
	return &CredentialsError{
		Reason: teamsv1alpha1.CredentialsNotFoundReason,
		Message: fmt.Sprintf("credentials Secret %s cannot be read: the manager reads Secrets only in the namespaces "+
			"%s (--secret-namespaces); ask the platform team to add %s", key, strings.Join(s.Namespaces, ", "), key.Namespace),
	}
}

// explain adds the label a Secret needs to a not-found error, when Secrets are narrowed by label.
func (s SecretScope) explain(err error) error {
	if ce, ok := AsCredentialsError(err); ok && s.Selector != "" && ce.Reason == teamsv1alpha1.CredentialsNotFoundReason {
		return &CredentialsError{Reason: ce.Reason, Message: ce.Message + fmt.Sprintf(
			"; the manager reads only Secrets matching %q (--secret-label-selector): label it", s.Selector)}
	}
	return err
}

// namespaceLabels returns a Namespace's labels, and whether it exists. An object can be
// reconciled before the manager's cache shows the namespace it was just created in: a miss
// is read again from the API server (live, when set), so a new namespace is not refused
// for the cache's lag.
func namespaceLabels(ctx context.Context, cached, live client.Reader, name string) (labels.Set, bool, error) {
	for _, r := range []client.Reader{cached, live} {
		if r == nil {
			continue
		}
		ns := &metav1.PartialObjectMetadata{}
		ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
		err := r.Get(ctx, client.ObjectKey{Name: name}, ns)
		switch {
		case err == nil:
			return labels.Set(ns.Labels), true, nil
		case !apierrors.IsNotFound(err):
			return nil, false, fmt.Errorf("reading namespace %s: %w", name, err)
		}
	}
	return nil, false, nil
}
