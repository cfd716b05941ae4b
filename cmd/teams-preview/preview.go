package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/alertmanager"
	"github.com/teams-operator/teams-operator/internal/cardcheck"
	"github.com/teams-operator/teams-operator/internal/delivery"
	"github.com/teams-operator/teams-operator/internal/emulator/ui"
)

// maxInput bounds each input file: a ProactiveMessage is far smaller.
const maxInput = 4 << 20

// preview is the page being built: one conversation holding every message, in input order.
type preview struct {
	view  ui.View
	chat  *ui.Chat
	count int
}

func newPreview(title string) *preview {
	p := &preview{view: ui.View{Title: "Preview: " + title}}
	p.view.Tenants = []ui.Tenant{{Name: "Preview", Chats: []ui.Chat{{ID: "preview", Topic: title}}}}
	p.chat = &p.view.Tenants[0].Chats[0]
	return p
}

// add checks spec as the manager does before sending and adds its message to the page.
func (p *preview) add(name string, spec *teamsv1alpha1.ProactiveMessageSpec) {
	p.count++
	problem := func(err error) {
		for _, line := range cardcheck.Problems(err) {
			p.view.Problems = append(p.view.Problems, name+": "+line)
		}
	}
	if err := delivery.Validate(spec); err != nil {
		problem(err)
	}
	a, err := delivery.BuildActivity(spec)
	if err != nil {
		problem(err)
		return
	}
	if err := cardcheck.Activity(a); err != nil {
		problem(err)
	}
	raw, err := json.Marshal(a)
	if err != nil {
		problem(err)
		return
	}
	p.chat.Messages = append(p.chat.Messages, ui.Message{ID: name, ConversationID: "preview",
		From: name, CreatedAt: time.Now().UTC().Truncate(time.Second), Activity: raw})
}

func (p *preview) write(path string, stdout io.Writer) error {
	page, err := ui.Standalone(&p.view)
	if err != nil {
		return err
	}
	if path == "-" {
		_, err = stdout.Write(page)
		return err
	}
	return os.WriteFile(path, page, 0o644) //nolint:gosec // a page for people to open, like any HTML file
}

func readInput(path string) ([]byte, error) {
	f, err := os.Open(path) //nolint:gosec // the user names the file to preview
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	b, err := io.ReadAll(io.LimitReader(f, maxInput+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxInput {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxInput)
	}
	return b, nil
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// yamlPreview renders every ProactiveMessage in the files (multi-document YAML).
func yamlPreview(files []string) (*preview, error) {
	names := make([]string, 0, len(files))
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	p := newPreview(strings.Join(names, ", "))
	for _, f := range files {
		b, err := readInput(f)
		if err != nil {
			return nil, err
		}
		for i, doc := range docSeparator.Split(string(b), -1) {
			var m teamsv1alpha1.ProactiveMessage
			if strings.TrimSpace(doc) == "" {
				continue
			}
			if err := yaml.UnmarshalStrict([]byte(doc), &m); err != nil {
				return nil, fmt.Errorf("%s (document %d): %w", f, i+1, err)
			}
			if m.Kind != "ProactiveMessage" {
				continue
			}
			name := m.Name
			if name == "" {
				name = fmt.Sprintf("%s#%d", filepath.Base(f), i+1)
			}
			p.add(name, &m.Spec)
		}
	}
	if p.count == 0 {
		return nil, fmt.Errorf("no ProactiveMessage in %s", strings.Join(files, ", "))
	}
	return p, nil
}

// alertmanagerPreview renders the receiver's card for a notification, with a template or the
// built-in card, as the receiver would create the ProactiveMessage.
func alertmanagerPreview(o *options) (*preview, error) {
	payload := samplePayload()
	switch {
	case o.amPayload != "":
		b, err := readInput(o.amPayload)
		if err != nil {
			return nil, err
		}
		payload = &alertmanager.Payload{}
		dec := json.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(payload); err != nil {
			return nil, fmt.Errorf("%s: not an Alertmanager notification: %w", o.amPayload, err)
		}
	case o.grafanaPayload != "":
		b, err := readInput(o.grafanaPayload)
		if err != nil {
			return nil, err
		}
		gp, err := alertmanager.ParseGrafana(b) // as the receiver reads Grafana's webhook
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.grafanaPayload, err)
		}
		payload = &gp.Payload
	}
	lim := alertmanager.DefaultLimits
	v := alertmanager.NewView(payload, o.namespace, "preview", lim)
	title := "the built-in Alertmanager card"
	var card *teamsv1alpha1.AdaptiveCard
	var err error
	if o.amTemplate != "" {
		title = filepath.Base(o.amTemplate)
		text, rerr := readInput(o.amTemplate)
		if rerr != nil {
			return nil, rerr
		}
		t, perr := alertmanager.ParseTemplate(title, string(text))
		if perr != nil {
			return nil, perr
		}
		card, err = alertmanager.RenderTemplate(t, v, lim)
	} else {
		card, err = alertmanager.BuiltinCard(v, lim)
	}
	p := newPreview(title)
	if err != nil {
		// What the receiver would answer (422): shown on the page and in the exit status.
		p.view.Problems = append(p.view.Problems, err.Error())
		return p, nil
	}
	msg := alertmanager.Message(v, card, "", 0)
	p.add(msg.Name, &msg.Spec)
	return p, nil
}

// samplePayload is an Alertmanager notification with one firing alert, for a template tried
// without a payload of its own.
func samplePayload() *alertmanager.Payload {
	labels := map[string]string{"alertname": "KubePodCrashLooping", "severity": "critical",
		"namespace": "payments", "pod": "api-7d9f8b6c5-x2k4q"}
	return &alertmanager.Payload{
		Version: "4", GroupKey: `{}:{alertname="KubePodCrashLooping"}`, Status: "firing", Receiver: "teams",
		GroupLabels: map[string]string{"alertname": "KubePodCrashLooping"}, CommonLabels: labels,
		CommonAnnotations: map[string]string{"summary": "Pod payments/api-7d9f8b6c5-x2k4q is crash looping"},
		ExternalURL:       "https://alertmanager.example.com",
		Alerts: []alertmanager.Alert{{
			Status: "firing", Labels: labels,
			Annotations: map[string]string{"summary": "Pod payments/api-7d9f8b6c5-x2k4q is crash looping",
				"runbook_url": "https://runbooks.example.com/KubePodCrashLooping"},
			StartsAt:     time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			GeneratorURL: "https://prometheus.example.com/graph?g0.expr=kube_pod_container_status_restarts_total",
		}},
	}
}
