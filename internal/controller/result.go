package controller

import ctrl "sigs.k8s.io/controller-runtime"

// lowestRequeue combines the results of two steps: the sooner non-zero RequeueAfter wins,
// so a reconcile comes back for whichever step needs it first.
func lowestRequeue(a, b ctrl.Result) ctrl.Result {
	if a.RequeueAfter == 0 || (b.RequeueAfter != 0 && b.RequeueAfter < a.RequeueAfter) {
		return b
	}
	return a
}
