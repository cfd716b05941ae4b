package operator

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheOptions are the manager cache's options: cmd/main.go and the integration tests use them,
// so the tests run with the cache that ships. Narrowing Secrets (SecretNamespaces,
// SecretSelector) narrows the Secret informers, so a manager given a Role per namespace instead
// of a cluster-wide read of Secrets starts and works.
func CacheOptions(opts Options) cache.Options {
	transform := CacheTransform()
	c := cache.Options{DefaultTransform: transform}
	namespaces := secretNamespaces(opts)
	if len(namespaces) == 0 && opts.SecretSelector == nil {
		return c
	}
	secrets := cache.ByObject{Label: opts.SecretSelector, Transform: transform}
	if len(namespaces) > 0 {
		secrets.Namespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			secrets.Namespaces[ns] = cache.Config{}
		}
	}
	// Keyed by GVK: the metadata-only Secret informers the controllers use get the same scope.
	c.ByObject = map[client.Object]cache.ByObject{&corev1.Secret{}: secrets}
	return c
}

// secretNamespaces are opts.SecretNamespaces with the default credentials' namespace.
func secretNamespaces(opts Options) []string {
	if len(opts.SecretNamespaces) == 0 {
		return nil
	}
	ns := slices.Clone(opts.SecretNamespaces)
	if d := opts.DefaultCredentials.Namespace; d != "" && !slices.Contains(ns, d) {
		ns = append(ns, d)
	}
	slices.Sort(ns)
	return ns
}
