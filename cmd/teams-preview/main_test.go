package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
)

func runPreview(t *testing.T, args ...string) (code int, page, stderr string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "preview.html")
	var so, se bytes.Buffer
	code = run(append([]string{"-o", out}, args...), &so, &se)
	b, _ := os.ReadFile(out)
	return code, string(b), se.String()
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPreviewSamples(t *testing.T) {
	g := NewWithT(t)
	code, page, stderr := runPreview(t, "../../config/samples/message_card.yaml", "../../config/samples/message_mention.yaml")
	g.Expect(code).To(Equal(0), stderr)
	g.Expect(stderr).To(ContainSubstring("2 message(s), 0 problem(s)"))
	g.Expect(page).To(ContainSubstring("FIRING: NodeDiskPressure"))
	g.Expect(page).To(ContainSubstring(`\u003cat\u003eMegan Bowen\u003c/at\u003e`), "the view is JSON with <, > escaped")
	g.Expect(page).To(ContainSubstring("Copyright (c) 2017 Microsoft"), "the Adaptive Cards renderer is inlined")
	g.Expect(page).NotTo(ContainSubstring("<script src"), "self-contained: nothing to fetch")
	g.Expect(page).NotTo(ContainSubstring("<link"))
}

func TestPreviewRefusesWhatTeamsWouldNotRender(t *testing.T) {
	g := NewWithT(t)
	bad := write(t, "bad.yaml", `apiVersion: teams.operator.dev/v1alpha1
kind: ProactiveMessage
metadata: {name: bad-card}
spec:
  targetRef: {name: t}
  adaptiveCard:
    type: AdaptiveCard
    version: "1.5"
    body:
      - {type: TextBlock, text: "hello"}
      - {type: Carousel}
    actions:
      - {type: Action.Http, url: "https://example.com"}
---
apiVersion: teams.operator.dev/v1alpha1
kind: ProactiveMessage
metadata: {name: bad-mention}
spec:
  targetRef: {name: t}
  text: "hello"
  mentions: [{id: "29:1", name: Ada}]
`)
	code, page, stderr := runPreview(t, bad)
	g.Expect(code).To(Equal(1))
	g.Expect(stderr).To(ContainSubstring(`bad-card: $.body[1].type: Teams does not render the element type "Carousel"`))
	g.Expect(stderr).To(ContainSubstring(`bad-card: $.actions[0].type: Teams does not render the action type "Action.Http"`),
		"every problem, not only the first")
	g.Expect(stderr).To(ContainSubstring("bad-mention: every mention's name must appear in text"))
	g.Expect(page).To(ContainSubstring(`$.body[1].type`), "the page lists the problems too")
}

func TestPreviewAlertmanager(t *testing.T) {
	g := NewWithT(t)
	code, page, stderr := runPreview(t, "--alertmanager-payload", write(t, "alerts.json", `{"status":"firing","receiver":"teams",
		"groupKey":"{}:{alertname=\"Disk\"}","commonLabels":{"alertname":"Disk","severity":"warning"},
		"alerts":[{"status":"firing","labels":{"alertname":"Disk"},"annotations":{"summary":"disk almost full"}}]}`))
	g.Expect(code).To(Equal(0), stderr)
	g.Expect(page).To(ContainSubstring("disk almost full"))

	tmpl := write(t, "card.tmpl", `{"type":"AdaptiveCard","version":"1.5","body":[
		{"type":"TextBlock","text":{{ json .Summary }}},{"type":"Badge","text":"new"}]}`)
	code, page, stderr = runPreview(t, "--alertmanager-template", tmpl)
	g.Expect(code).To(Equal(1), "a Badge is not an element Teams renders")
	g.Expect(stderr).To(ContainSubstring(`$.body[1].type: Teams does not render the element type "Badge"`))
	g.Expect(page).To(ContainSubstring("KubePodCrashLooping"), "the sample notification")

	code, _, stderr = runPreview(t, "--alertmanager-template", write(t, "broken.tmpl", `{{ .Nope `))
	g.Expect(code).To(Equal(2))
	g.Expect(stderr).To(ContainSubstring("template"))
}

func TestPreviewGrafana(t *testing.T) {
	g := NewWithT(t)
	grafana := write(t, "grafana.json", `{"receiver":"teams","status":"firing","orgId":1,"version":"1","groupKey":"{}:{}",
		"alerts":[{"status":"firing","labels":{"alertname":"High memory usage","zone":"us-1"},
		"annotations":{"summary":"This alert was triggered for zone us-1"},"startsAt":"2021-10-12T09:51:03Z",
		"values":{"B":44.2}}],"groupLabels":{},"commonLabels":{"alertname":"High memory usage"},"commonAnnotations":{},
		"externalURL":"https://grafana.example.com/","title":"[FIRING:1] High memory usage","state":"alerting","message":""}`)
	code, page, stderr := runPreview(t, "--grafana-payload", grafana)
	g.Expect(code).To(Equal(0), stderr)
	g.Expect(page).To(ContainSubstring("This alert was triggered for zone us-1"))
	code, page, stderr = runPreview(t, "--grafana-payload", grafana, "--alertmanager-template",
		write(t, "card.tmpl", `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"from {{ .Source }}"}]}`))
	g.Expect(code).To(Equal(0), stderr)
	g.Expect(page).To(ContainSubstring("from grafana"))
	code, _, stderr = runPreview(t, "--grafana-payload", write(t, "custom.json", `{"version":"2","alerts":[]}`))
	g.Expect(code).To(Equal(2))
	g.Expect(stderr).To(ContainSubstring(`version must be "1"`))
}

func TestPreviewUsage(t *testing.T) {
	g := NewWithT(t)
	code, _, _ := runPreview(t)
	g.Expect(code).To(Equal(2))
	code, _, _ = runPreview(t, "--alertmanager-payload", "x.json", "also.yaml")
	g.Expect(code).To(Equal(2))
	code, _, stderr := runPreview(t, write(t, "none.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"))
	g.Expect(code).To(Equal(2))
	g.Expect(stderr).To(ContainSubstring("no ProactiveMessage"))
}
