package controller

import (
	"context"

	"github.com/go-logr/logr"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/ratelimit"
)

// The order of the send queue (docs/performance.md "Priority and fair share"). Messages wait
// in two places, and both honour spec.priority and share a priority fairly between
// namespaces: the controller's work queue (a ratelimit.FairQueue: which message a worker
// takes next) and the app rate limiter (ratelimit.AppLimiter: which waiting worker's request
// goes next).

// messagePriority is the limiter's priority of a message; an unknown value (the CRD
// allows none) is Normal.
func messagePriority(m *teamsv1alpha1.ProactiveMessage) ratelimit.Priority {
	p, _ := ratelimit.ParsePriority(string(m.Spec.Priority))
	return p
}

// messageTurn is how a message waits at the app limiter: its namespace (with the weight and
// cap of the namespace's ReachPolicies) and its priority.
func (r *ProactiveMessageReconciler) messageTurn(ctx context.Context, m *teamsv1alpha1.ProactiveMessage) ratelimit.Turn {
	weight, maxRPS := namespaceShare(ctx, r.Reach, m.Namespace)
	return ratelimit.Turn{Namespace: m.Namespace, Priority: messagePriority(m), Weight: weight, MaxRPS: maxRPS}
}

// queueWeight is a namespace's weight in the work queue.
func (r *ProactiveMessageReconciler) queueWeight(namespace string) float64 {
	weight, _ := namespaceShare(context.Background(), r.Reach, namespace)
	return weight
}

// queueLevel is the work-queue level of a message: its priority, lower when it comes from a
// resync (the initial list after a restart), and lowest when it is finished, so that a
// restart with a large backlog does not hold up new messages, and High ones least.
func queueLevel(m *teamsv1alpha1.ProactiveMessage, resync bool) int {
	if messageFinished(m) && m.DeletionTimestamp.IsZero() {
		return ratelimit.QueueLevelFinished
	}
	return ratelimit.QueueLevel(messagePriority(m), resync)
}

// hintLevel is the level other handlers' adds of m take: only unfinished High and Bulk
// messages need one.
func hintLevel(m *teamsv1alpha1.ProactiveMessage) int {
	if messageFinished(m) {
		return 0
	}
	return ratelimit.QueueLevel(messagePriority(m), false)
}

// queueEvents enqueues a ProactiveMessage on its own events (what For would do, with the
// generation-changed filter) at its level, and keeps its hint current.
func queueEvents() handler.EventHandler {
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if m, ok := e.Object.(*teamsv1alpha1.ProactiveMessage); ok {
				enqueueMessage(q, m, e.IsInInitialList)
			}
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			m, ok := e.ObjectNew.(*teamsv1alpha1.ProactiveMessage)
			if !ok {
				return
			}
			if e.ObjectOld.GetGeneration() == m.Generation {
				// Status and annotation writes do not start a reconcile (the steps requeue
				// themselves), but a message that finished needs its hint no more.
				if fq, ok := q.(*ratelimit.FairQueue); ok {
					fq.SetHint(requestOf(m), hintLevel(m))
				}
				return
			}
			enqueueMessage(q, m, false)
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if fq, ok := q.(*ratelimit.FairQueue); ok {
				fq.SetHint(requestOf(e.Object), 0)
			}
			q.Add(requestOf(e.Object))
		},
		GenericFunc: func(_ context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if m, ok := e.Object.(*teamsv1alpha1.ProactiveMessage); ok {
				enqueueMessage(q, m, false)
			}
		},
	}
}

func enqueueMessage(q workqueue.TypedRateLimitingInterface[reconcile.Request], m *teamsv1alpha1.ProactiveMessage, resync bool) {
	fq, ok := q.(*ratelimit.FairQueue)
	if !ok {
		q.Add(requestOf(m))
		return
	}
	fq.SetHint(requestOf(m), hintLevel(m))
	fq.AddLevel(queueLevel(m, resync), requestOf(m))
}

func requestOf(o client.Object) reconcile.Request {
	return reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)}
}

// messageLogConstructor gives each reconcile's logger the keys For would have given it.
func messageLogConstructor(base logr.Logger) func(*reconcile.Request) logr.Logger {
	log := base.WithValues("controller", "proactivemessage", "controllerGroup", teamsv1alpha1.GroupVersion.Group,
		"controllerKind", "ProactiveMessage")
	return func(req *reconcile.Request) logr.Logger {
		if req == nil {
			return log
		}
		return log.WithValues("ProactiveMessage", klog.KRef(req.Namespace, req.Name),
			"namespace", req.Namespace, "name", req.Name)
	}
}
