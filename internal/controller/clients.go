package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/auth"
	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/cloud"
	"github.com/teams-operator/teams-operator/internal/graph"
)

// Clients are the Microsoft clients of one set of credentials.
type Clients struct {
	Graph graph.Interface
	Bot   botframework.Interface
	// TenantID is the credentials' tenant: the default tenant of conversations.
	TenantID string
	// AppID is the bot's Entra app id.
	AppID string
	// Policy is the service URL policy the Bot client enforces, for early checks of a spec.
	Policy *botframework.ServiceURLPolicy
	// DefaultServiceURL is the cloud's (or --bot-service-url's) Connector base URL.
	DefaultServiceURL string
	// Cloud is the national cloud's endpoints, for what its Graph lacks.
	Cloud cloud.Endpoints
}

// ClientFactory returns the clients for the credentials an object names: a Secret in the
// object's namespace, or the manager's default credentials when ref is nil.
type ClientFactory interface {
	For(ctx context.Context, namespace string, ref *teamsv1alpha1.LocalObjectReference) (*Clients, error)
}

// CredentialsError says why credentials could not be used; Reason is a condition reason.
type CredentialsError struct {
	Reason  string
	Message string
}

func (e *CredentialsError) Error() string { return e.Message }

// AsCredentialsError returns the CredentialsError in err's chain, if any.
func AsCredentialsError(err error) (*CredentialsError, bool) {
	var ce *CredentialsError
	ok := errors.As(err, &ce)
	return ce, ok
}

// SecretClientFactory builds clients from credentials Secrets. It reads a Secret's data only
// when the Secret's uid or resourceVersion (from the metadata cache) changed, so rotation is
// picked up at once and unchanged Secrets cost no API call.
type SecretClientFactory struct {
	// Metadata reads Secret metadata from the manager's cache (a metadata-only informer).
	Metadata client.Reader
	// Secrets reads a Secret's data directly from the API server.
	Secrets client.Reader
	// Default is the manager's default credentials Secret; empty disables the default.
	Default types.NamespacedName
	// FederatedTokenFile is AZURE_FEDERATED_TOKEN_FILE, for workload identity.
	FederatedTokenFile string
	// Shared decides which namespaces may use Default and FederatedTokenFile; nil: all.
	Shared *SharedCredentials
	// SecretScope is where the manager reads Secrets (--secret-namespaces, --secret-label-selector);
	// zero: everywhere.
	SecretScope SecretScope

	Endpoints           cloud.Endpoints
	HTTPClient          *http.Client
	Tokens              *auth.Cache
	Policy              *botframework.ServiceURLPolicy
	AppLimiter          botframework.Limiter
	ConversationLimiter botframework.Limiter

	mu    sync.Mutex
	cache map[types.NamespacedName]cachedClients
}

type cachedClients struct {
	uid             types.UID
	resourceVersion string
	clients         *Clients
	// federated: the clients prove themselves with the manager's workload identity.
	federated bool
}

var _ ClientFactory = (*SecretClientFactory)(nil)

// For implements ClientFactory.
func (f *SecretClientFactory) For(ctx context.Context, namespace string, ref *teamsv1alpha1.LocalObjectReference) (*Clients, error) {
	key, err := f.secretKey(namespace, ref)
	if err != nil {
		return nil, err
	}
	if ref == nil {
		if err := f.Shared.check(ctx, namespace, "the manager's default credentials"); err != nil {
			return nil, err
		}
	}
	if err := f.SecretScope.check(key); err != nil {
		return nil, err
	}
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := f.Metadata.Get(ctx, key, meta); err != nil {
		return nil, f.SecretScope.explain(secretError(key, err))
	}
	if c, ok := f.cached(key, meta); ok {
		return c.clients, f.checkFederated(ctx, namespace, key, ref, c.federated)
	}
	secret := &corev1.Secret{}
	if err := f.Secrets.Get(ctx, key, secret); err != nil {
		return nil, secretError(key, err)
	}
	federated := usesWorkloadIdentity(secret.Data, f.FederatedTokenFile)
	if err := f.checkFederated(ctx, namespace, key, ref, federated); err != nil {
		return nil, err
	}
	clients, err := f.build(secret)
	if err != nil {
		return nil, err
	}
	f.store(key, secret, clients, federated)
	return clients, nil
}

// checkFederated refuses a namespace's own Secret that relies on the manager's workload
// identity, unless the namespace may use it. (The default credentials were checked already.)
func (f *SecretClientFactory) checkFederated(ctx context.Context, namespace string, key types.NamespacedName,
	ref *teamsv1alpha1.LocalObjectReference, federated bool) error {
	if !federated || ref == nil {
		return nil
	}
	return f.Shared.check(ctx, namespace, fmt.Sprintf(
		"credentials Secret %s has no client secret or certificate, and the manager's workload identity", key))
}

func (f *SecretClientFactory) secretKey(namespace string, ref *teamsv1alpha1.LocalObjectReference) (types.NamespacedName, error) {
	if ref != nil {
		return types.NamespacedName{Namespace: namespace, Name: ref.Name}, nil
	}
	if f.Default.Name == "" {
		return types.NamespacedName{}, &CredentialsError{
			Reason:  teamsv1alpha1.CredentialsNotFoundReason,
			Message: "spec.credentialsRef is not set and the manager has no default credentials (--default-credentials)",
		}
	}
	return f.Default, nil
}

func secretError(key types.NamespacedName, err error) error {
	if apierrors.IsNotFound(err) {
		return &CredentialsError{
			Reason: teamsv1alpha1.CredentialsNotFoundReason,
			Message: fmt.Sprintf("credentials Secret %s not found: create it with the keys tenantId, clientId and "+
				"clientSecret (or tls.crt and tls.key)", key),
		}
	}
	return fmt.Errorf("reading credentials Secret %s: %w", key, err)
}

func (f *SecretClientFactory) cached(key types.NamespacedName, meta *metav1.PartialObjectMetadata) (cachedClients, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cache[key]
	if !ok || c.uid != meta.UID || c.resourceVersion != meta.ResourceVersion {
		return cachedClients{}, false
	}
	return c, true
}

func (f *SecretClientFactory) store(key types.NamespacedName, secret *corev1.Secret, clients *Clients, federated bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cache == nil {
		f.cache = map[types.NamespacedName]cachedClients{}
	}
	f.cache[key] = cachedClients{uid: secret.UID, resourceVersion: secret.ResourceVersion, clients: clients, federated: federated}
}

// build turns a Secret into clients. Errors name the Secret and the key, never a value.
func (f *SecretClientFactory) build(secret *corev1.Secret) (*Clients, error) {
	creds, err := auth.FromSecretData(secret.Data, f.FederatedTokenFile)
	if err != nil {
		return nil, &CredentialsError{
			Reason:  teamsv1alpha1.CredentialsInvalidReason,
			Message: fmt.Sprintf("credentials Secret %s/%s: %v", secret.Namespace, secret.Name, err),
		}
	}
	tokens, err := f.Tokens.Get(creds)
	if err != nil {
		return nil, &CredentialsError{
			Reason:  teamsv1alpha1.CredentialsInvalidReason,
			Message: fmt.Sprintf("credentials Secret %s/%s: %v", secret.Namespace, secret.Name, err),
		}
	}
	g, err := graph.New(graph.Options{Endpoint: f.Endpoints.GraphEndpoint, HTTPClient: f.HTTPClient, Tokens: tokens.Graph})
	if err != nil {
		return nil, err
	}
	bot, err := botframework.New(botframework.Options{
		HTTPClient: f.HTTPClient, Tokens: tokens.Bot, AppID: creds.ClientID, TenantID: creds.TenantID,
		Policy: f.Policy, AppLimiter: f.AppLimiter, ConversationLimiter: f.ConversationLimiter,
	})
	if err != nil {
		return nil, err
	}
	return &Clients{
		Graph: g, Bot: bot, TenantID: creds.TenantID, AppID: creds.ClientID,
		Policy: f.Policy, DefaultServiceURL: f.Endpoints.DefaultServiceURL, Cloud: f.Endpoints,
	}, nil
}
