package main

import (
	"log/slog"
	"math"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
)

// memoryLimitRatio is the share of the container's memory limit the Go heap may grow to
// before the garbage collector works harder: the rest is for goroutine stacks, the runtime and
// memory not yet returned to the kernel.
const memoryLimitRatio = 0.9

// setMemoryLimit sets the Go runtime's soft memory limit (GOMEMLIMIT) to memoryLimitRatio of
// the cgroup's memory limit, so that with many objects cached the manager collects garbage
// before the kernel kills it instead of growing to twice its live heap (GOGC=100). GOMEMLIMIT
// set in the environment wins, and AUTOMEMLIMIT=off turns this off; without a cgroup limit
// nothing changes (docs/performance.md, "Scale").
func setMemoryLimit(log logr.Logger, provider memlimit.Provider) {
	limit, err := memlimit.Set(
		memlimit.WithProvider(provider),
		memlimit.WithRatio(memoryLimitRatio),
		memlimit.WithLogger(slog.New(logr.ToSlogHandler(log.V(1)))),
	)
	if err != nil {
		log.Info("Go memory limit not set from the cgroup", "error", err.Error())
		return
	}
	if limit == math.MaxInt64 {
		log.Info("No memory limit in the cgroup: the Go heap is not limited")
		return
	}
	log.Info("Go memory limit set from the cgroup", "GOMEMLIMIT", limit)
}
