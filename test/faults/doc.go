// Package faults is the fault suite: it runs the manager binary against a real control plane and
// the Teams emulator (test/harness) and breaks things while ProactiveMessages are being sent: the
// manager killed with SIGKILL, 429 storms, 503 bursts, answers dropped after Teams accepted the
// message, kube-apiserver restarted, the token endpoint down for a minute. The tests assert the
// delivery guarantee of docs/usage.md from what Teams (the emulator) holds; docs/reliability.md
// explains each scenario.
package faults
