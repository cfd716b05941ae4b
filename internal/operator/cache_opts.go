package operator

import (
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// CacheOptions are the manager cache's options: cmd/main.go and the integration tests use them,
// so the tests run with the cache that ships.
func CacheOptions(_ Options) cache.Options {
	return cache.Options{DefaultTransform: CacheTransform()}
}
