package alertmanager

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// samplePayload is a notification as Alertmanager 0.25 sends it, with n alerts firing.
func samplePayload(status string, n int) *Payload {
	p := &Payload{
		Version: "4", GroupKey: `{}:{alertname="HighLatency"}`, Status: status, Receiver: "teams",
		GroupLabels:       map[string]string{"alertname": "HighLatency"},
		CommonLabels:      map[string]string{"alertname": "HighLatency", "severity": "critical"},
		CommonAnnotations: map[string]string{},
		ExternalURL:       "http://alertmanager.example:9093",
	}
	for i := range n {
		a := Alert{
			Status: status,
			Labels: map[string]string{"alertname": "HighLatency", "severity": "critical", "instance": fmt.Sprintf("web-%02d", i)},
			Annotations: map[string]string{
				"summary": fmt.Sprintf("web-%02d answers slowly", i), "description": "p99 above 2s for 5m",
				"runbook_url": "https://runbooks.example/high-latency",
			},
			StartsAt:     t0.Add(time.Duration(i) * time.Minute),
			GeneratorURL: "http://prometheus.example:9090/graph?g0.expr=up",
			Fingerprint:  fmt.Sprintf("%016x", i),
		}
		if status == StatusResolved {
			a.EndsAt = t0.Add(time.Hour)
		}
		p.Alerts = append(p.Alerts, a)
	}
	return p
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParse(t *testing.T) {
	valid := string(mustJSON(t, samplePayload(StatusFiring, 2)))
	edit := func(from, to string) string {
		if !strings.Contains(valid, from) {
			t.Fatalf("sample has no %q", from)
		}
		return strings.Replace(valid, from, to, 1)
	}
	tests := map[string]struct {
		body    string
		wantErr string
	}{
		"valid":               {body: valid},
		"unknown fields pass": {body: edit(`"version":"4"`, `"version":"4","future":1`)},
		"not JSON":            {body: `{"version": 4`, wantErr: "malformed JSON"},
		"syntax error":        {body: `{"version": "4",}`, wantErr: "malformed JSON at byte"},
		"wrong type":          {body: edit(`"truncatedAlerts":0`, `"truncatedAlerts":"0"`), wantErr: `field "truncatedAlerts" must be a JSON int`},
		"version 3":           {body: edit(`"version":"4"`, `"version":"3"`), wantErr: `version must be "4"`},
		"no group key":        {body: edit(`"groupKey":"{}:{alertname=\"HighLatency\"}"`, `"groupKey":""`), wantErr: "groupKey is missing"},
		"bad status":          {body: edit(`"status":"firing","receiver"`, `"status":"burning","receiver"`), wantErr: `status must be "firing" or "resolved", not "burning"`},
		"no alerts":           {body: `{"version":"4","groupKey":"k","status":"firing","alerts":[]}`, wantErr: "alerts is empty"},
		"bad alert status":    {body: edit(`"alerts":[{"status":"firing"`, `"alerts":[{"status":"x"`), wantErr: `alerts[0].status must be`},
		"negative truncated":  {body: edit(`"truncatedAlerts":0`, `"truncatedAlerts":-1`), wantErr: "truncatedAlerts must not be negative"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			p, err := Parse([]byte(tc.body))
			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(p.Alerts).To(HaveLen(2))
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
			var pe *ParseError
			g.Expect(err).To(BeAssignableToTypeOf(pe))
		})
	}
}

func TestPayloadSummaryFields(t *testing.T) {
	tests := map[string]struct {
		mutate       func(*Payload)
		wantTitle    string
		wantSeverity string
		wantFiring   int
		wantResolved int
	}{
		"common labels": {mutate: func(*Payload) {}, wantTitle: "HighLatency", wantSeverity: "critical", wantFiring: 3},
		"severity from the first alert": {
			mutate:    func(p *Payload) { delete(p.CommonLabels, "severity"); p.Alerts[1].Labels["severity"] = "warning" },
			wantTitle: "HighLatency", wantSeverity: "critical", wantFiring: 3,
		},
		"no alertname: group labels": {
			mutate: func(p *Payload) {
				delete(p.CommonLabels, "alertname")
				p.GroupLabels = map[string]string{"job": "web", "cluster": "eu"}
			},
			wantTitle: "cluster=eu, job=web", wantSeverity: "critical", wantFiring: 3,
		},
		"nothing to name it": {
			mutate:    func(p *Payload) { p.CommonLabels, p.GroupLabels = nil, nil },
			wantTitle: "Alerts", wantSeverity: "critical", wantFiring: 3,
		},
		"some resolved": {
			mutate:    func(p *Payload) { p.Alerts[0].Status = StatusResolved },
			wantTitle: "HighLatency", wantSeverity: "critical", wantFiring: 2, wantResolved: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			p := samplePayload(StatusFiring, 3)
			tc.mutate(p)
			g.Expect(p.Title()).To(Equal(tc.wantTitle))
			g.Expect(p.Severity()).To(Equal(tc.wantSeverity))
			f, r := p.Counts()
			g.Expect([]int{f, r}).To(Equal([]int{tc.wantFiring, tc.wantResolved}))
		})
	}
}
