package main

import (
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/go-logr/logr"
)

// The manager's Go memory limit follows the container's: 90 % of a 512 MiB cgroup limit, and
// GOMEMLIMIT in the environment wins.
func TestSetMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("AUTOMEMLIMIT", "")
	if err := os.Unsetenv("AUTOMEMLIMIT"); err != nil {
		t.Fatal(err)
	}
	previous := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(previous) })

	var cgroupLimit uint64 = 512 << 20
	cgroup := func() (uint64, error) { return cgroupLimit, nil }
	setMemoryLimit(logr.Discard(), cgroup)
	if got, want := debug.SetMemoryLimit(-1), int64(0.9*float64(cgroupLimit)); got != want {
		t.Errorf("GOMEMLIMIT = %d, want %d (90 %% of 512 MiB)", got, want)
	}

	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "1GiB")
	setMemoryLimit(logr.Discard(), cgroup)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("GOMEMLIMIT in the environment must win: the limit was changed to %d", got)
	}
}
