package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// argoTemplate is the webhook body template of docs/sources.md's argocd-notifications-cm.
func argoTemplate(t *testing.T) *template.Template {
	t.Helper()
	g := NewWithT(t)
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "sources.md"))
	g.Expect(err).NotTo(HaveOccurred())
	_, rest, ok := strings.Cut(string(doc), "```yaml\n# argocd-notifications-cm.yaml\n")
	g.Expect(ok).To(BeTrue(), "docs/sources.md has the argocd-notifications-cm block")
	block, _, _ := strings.Cut(rest, "```")
	var cm struct {
		Data map[string]string `json:"data"`
	}
	g.Expect(yaml.Unmarshal([]byte(block), &cm)).To(Succeed())
	var tmpl struct {
		Webhook map[string]struct {
			Method string `json:"method"`
			Body   string `json:"body"`
		} `json:"webhook"`
	}
	g.Expect(yaml.UnmarshalStrict([]byte(cm.Data["template.teams-operator-app"]), &tmpl)).To(Succeed())
	wh := tmpl.Webhook["teams-operator"]
	g.Expect(wh.Method).To(Equal("POST"))
	// Argo CD runs templates with text/template and Sprig; toJson is Sprig's (json.Marshal, errors dropped).
	funcs := template.FuncMap{"toJson": func(v any) string { b, _ := json.Marshal(v); return string(b) }}
	return template.Must(template.New("body").Funcs(funcs).Parse(wh.Body))
}

// argoApp is Argo CD's guestbook Application (https://argo-cd.readthedocs.io/en/stable/getting_started/,
// "Creating Apps Via CLI") at one moment of a sync, as the notifications controller sees it.
func argoApp(phase, message, sync, health, revision string) map[string]any {
	return map[string]any{
		"app": map[string]any{
			"metadata": map[string]any{"name": "guestbook", "namespace": "argocd"},
			"spec": map[string]any{"project": "default", "source": map[string]any{
				"repoURL": "https://github.com/argoproj/argocd-example-apps.git", "path": "guestbook", "targetRevision": "HEAD"}},
			"status": map[string]any{
				"sync":           map[string]any{"status": sync, "revision": revision},
				"health":         map[string]any{"status": health},
				"operationState": map[string]any{"phase": phase, "message": message},
			},
		},
		"context": map[string]any{"argocdUrl": "https://argocd.example.com"},
	}
}

func renderArgo(t *testing.T, tmpl *template.Template, app map[string]any) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := tmpl.Execute(&b, app); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const argoPath = "/argocd/v1/namespaces/alerts/targets/oncall"

// A sync, as the documented template renders it at each trigger, is one card edited until
// green; the next revision is another card.
func TestArgoCDSyncLifecycle(t *testing.T) {
	g := NewWithT(t)
	tmpl := argoTemplate(t)
	f := newFixture(t)
	const rev = "53e28ff20cc530b9ada2173fbbd64d48338583ba"
	get := func(name string) *teamsv1alpha1.ProactiveMessage {
		pm := &teamsv1alpha1.ProactiveMessage{}
		g.Expect(f.client.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: name}, pm)).To(Succeed())
		return pm
	}
	running := f.post(t, argoPath, testToken, renderArgo(t, tmpl, argoApp("Running",
		`waiting for completion of hook apps/Deployment/guestbook-ui and 1 more "resources"`, "OutOfSync", "Progressing", rev)))
	g.Expect(running.code).To(Equal(http.StatusOK), "%+v", running.body)
	g.Expect(running.body.Name).To(HavePrefix("cd-"))
	pm := get(running.body.Name)
	g.Expect(pm.Spec.Summary).To(Equal("[PROGRESSING] Application argocd/guestbook"))
	g.Expect(pm.Labels).To(HaveKeyWithValue(SourceLabel, SourceArgoCD))
	text := cardText(t, pm.Spec.AdaptiveCard)
	g.Expect(text).To(ContainSubstring(`and 1 more "resources"`), "the message's quotes survive the template")
	g.Expect(text).To(ContainSubstring("https://argocd.example.com/applications/argocd/guestbook"))
	g.Expect(text).To(ContainSubstring(rev))

	synced := f.post(t, argoPath, testToken, renderArgo(t, tmpl, argoApp("Succeeded", "successfully synced (all tasks run)", "Synced", "Progressing", rev)))
	g.Expect(synced.body).To(Equal(response{Result: ResultUpdated, Name: running.body.Name}))
	g.Expect(get(running.body.Name).Labels).To(HaveKeyWithValue(StatusLabel, NoticeProgressing), "synced but not yet healthy")

	deployed := f.post(t, argoPath, testToken, renderArgo(t, tmpl, argoApp("Succeeded", "successfully synced (all tasks run)", "Synced", "Healthy", rev)))
	g.Expect(deployed.body).To(Equal(response{Result: ResultUpdated, Name: running.body.Name}))
	pm = get(running.body.Name)
	g.Expect(pm.Labels).To(HaveKeyWithValue(StatusLabel, NoticeSucceeded))
	g.Expect(string(pm.Spec.AdaptiveCard.Body[0].Raw)).To(ContainSubstring(`"color":"Good"`))

	failed := f.post(t, argoPath, testToken, renderArgo(t, tmpl, argoApp("Failed",
		"one or more objects failed to apply", "OutOfSync", "Degraded", "0123456789abcdef0123456789abcdef01234567")))
	g.Expect(failed.body.Result).To(Equal(ResultCreated))
	g.Expect(failed.body.Name).NotTo(Equal(running.body.Name), "another revision is another card")
	g.Expect(get(failed.body.Name).Labels).To(HaveKeyWithValue(StatusLabel, NoticeFailed))
}

func TestParseArgoCD(t *testing.T) {
	g := NewWithT(t)
	for name, tc := range map[string]struct{ body, want string }{
		"no version":   {`{"app": "guestbook"}`, `version must be "1"`},
		"another body": {`{"version": "4", "groupKey": "x"}`, `version must be "1"`},
		"no app":       {`{"version": "1"}`, "app is missing"},
		"malformed":    {`{"version": "1", "app": `, "malformed JSON"},
	} {
		_, err := ParseArgoCD([]byte(tc.body))
		g.Expect(err).To(MatchError(ContainSubstring(tc.want)), name)
	}
}
