package alertmanager

import (
	"context"
	"net/http"
)

// Argo CD Notifications has no fixed webhook body: its `webhook` service posts what a template
// renders. docs/sources.md's argocd-notifications-cm template renders ArgoCDPayload (version
// "1") from the Application; each application at a sync revision is one message, edited as the
// sync runs, succeeds or fails and the application turns healthy or degraded.

// SourceArgoCD is Argo CD's source name.
const SourceArgoCD = "argocd"

// ArgoCDPayload is the body docs/sources.md's Argo CD template renders.
type ArgoCDPayload struct {
	Version      string `json:"version"`
	App          string `json:"app"`
	AppNamespace string `json:"appNamespace"`
	Project      string `json:"project"`
	// Revision is the revision the application syncs to (status.sync.revision).
	Revision string `json:"revision"`
	// Phase is the operation's phase: Running, Terminating, Failed, Error, Succeeded.
	Phase   string `json:"phase"`
	Message string `json:"message"`
	// SyncStatus (Synced, OutOfSync, Unknown) and HealthStatus (Healthy, Progressing, Degraded,
	// Suspended, Missing, Unknown) are the application's.
	SyncStatus   string `json:"syncStatus"`
	HealthStatus string `json:"healthStatus"`
	RepoURL      string `json:"repoURL"`
	// URL is the application's page in Argo CD.
	URL string `json:"url"`
}

// ParseArgoCD decodes and checks the body of docs/sources.md's Argo CD template.
func ParseArgoCD(body []byte) (*ArgoCDPayload, error) {
	var p ArgoCDPayload
	if err := decodeJSON(body, &p); err != nil {
		return nil, err
	}
	switch {
	case p.Version != "1":
		return nil, parseErrorf("version must be \"1\" (the template of docs/sources.md), not %q", p.Version)
	case p.App == "":
		return nil, parseErrorf("app is missing")
	}
	return &p, nil
}

// argoCDStatus: a failed or errored sync, or a degraded or missing application, failed; a sync
// that succeeded on a healthy application succeeded; anything else is still in progress.
func argoCDStatus(p *ArgoCDPayload) string {
	switch {
	case p.Phase == "Failed" || p.Phase == "Error" || p.HealthStatus == "Degraded" || p.HealthStatus == "Missing":
		return NoticeFailed
	case p.Phase == "Succeeded" && p.HealthStatus == "Healthy":
		return NoticeSucceeded
	default:
		return NoticeProgressing
	}
}

// ArgoCDNotice is the card of an application at a sync revision.
func ArgoCDNotice(p *ArgoCDPayload) Notice {
	app := p.App
	if p.AppNamespace != "" {
		app = p.AppNamespace + "/" + p.App
	}
	var facts []Fact
	for _, f := range []Fact{{"Sync", p.SyncStatus}, {"Health", p.HealthStatus}, {"Operation", p.Phase},
		{"Revision", p.Revision}, {"Project", p.Project}, {"Repository", p.RepoURL}} {
		if f.Value != "" {
			facts = append(facts, f)
		}
	}
	return Notice{
		Source: SourceArgoCD, Key: app + "@" + p.Revision, Status: argoCDStatus(p),
		Title: "Application " + app, Text: p.Message, Facts: facts,
		Links: []Link{{"Open in Argo CD", p.URL}},
		Labels: map[string]string{"app": p.App, labelNamespace: p.AppNamespace, "project": p.Project,
			"revision": p.Revision, "phase": p.Phase, "sync": p.SyncStatus, "health": p.HealthStatus},
	}
}

func parseArgoCD(_ context.Context, req *request) ([]notification, error) {
	p, err := ParseArgoCD(req.body)
	if err != nil {
		return nil, reject(http.StatusBadRequest, ReasonMalformed, "%v", err)
	}
	n := ArgoCDNotice(p)
	n.Namespace, n.Data = req.namespace, p
	return []notification{noticeNotification{n: n}}, nil
}
