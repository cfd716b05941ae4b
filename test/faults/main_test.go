package faults_test

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime's logger; the processes' own logs are in files.
	logf.SetLogger(logr.Discard())
	os.Exit(m.Run())
}
