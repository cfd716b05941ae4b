package alertmanager

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// grafanaDocsPayload is the example body of Grafana's webhook notifier page
// (https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/,
// "Webhook JSON payload"), its two alerts as printed there; the top-level fields after the
// alerts are those of webhookMessage (github.com/grafana/alerting receivers/webhook/v1/webhook.go).
const grafanaDocsPayload = `{
  "receiver": "My Super Webhook",
  "status": "firing",
  "orgId": 1,
  "alerts": [
    {
      "status": "firing",
      "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
      "annotations": {
        "description": "The system has high memory usage",
        "runbook_url": "https://myrunbook.com/runbook/1234",
        "summary": "This alert was triggered for zone us-1"
      },
      "startsAt": "2021-10-12T09:51:03.157076+02:00",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
      "fingerprint": "c6eadffa33fcdf37",
      "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1",
      "dashboardURL": "",
      "panelURL": "",
      "values": {"B": 44.23943737541908, "C": 1}
    },
    {
      "status": "firing",
      "labels": {"alertname": "High CPU usage", "team": "blue", "zone": "eu-1"},
      "annotations": {
        "description": "The system has high CPU usage",
        "runbook_url": "https://myrunbook.com/runbook/1234",
        "summary": "This alert was triggered for zone eu-1"
      },
      "startsAt": "2021-10-12T09:56:03.157076+02:00",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "https://play.grafana.org/alerting/d1rdpdv7k/edit",
      "fingerprint": "bc97ff14869b13e3",
      "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT1%2Cteam%3Dblue%2Czone%3Deu-1",
      "dashboardURL": "https://play.grafana.org/d/monitoring",
      "panelURL": "https://play.grafana.org/d/monitoring?viewPanel=1",
      "values": {"B": 44.23943737541908, "C": 1}
    }
  ],
  "groupLabels": {},
  "commonLabels": {"team": "blue"},
  "commonAnnotations": {},
  "externalURL": "https://play.grafana.org/",
  "version": "1",
  "groupKey": "{}:{}",
  "truncatedAlerts": 0,
  "title": "[FIRING:2]  (blue)",
  "state": "alerting",
  "message": "**Firing**\n\nLabels:\n - alertname = High memory usage\n"
}`

const grafanaPath = "/grafana/v1/namespaces/alerts/targets/oncall"

// grafanaResolved is the docs' group with both alerts resolved.
func grafanaResolved() []byte {
	b := strings.ReplaceAll(grafanaDocsPayload, `"status": "firing"`, `"status": "resolved"`)
	b = strings.Replace(b, `"state": "alerting"`, `"state": "ok"`, 1)
	return []byte(strings.ReplaceAll(b, `"endsAt": "0001-01-01T00:00:00Z"`, `"endsAt": "2021-10-12T10:01:03Z"`))
}

func grafanaSign(key, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key))
	if ts != "" {
		mac.Write([]byte(ts + ":"))
	}
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

func (f *fixture) postWith(t *testing.T, path string, header http.Header, body []byte) reply {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	maps.Copy(req.Header, header)
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	var r response
	if rec.Body.Len() > 0 {
		g := NewWithT(t)
		g.Expect(decodeJSON(rec.Body.Bytes(), &r)).To(Succeed(), "answer %d: %q", rec.Code, rec.Body.String())
	}
	return reply{code: rec.Code, body: r}
}

func TestParseGrafana(t *testing.T) {
	g := NewWithT(t)
	p, err := ParseGrafana([]byte(grafanaDocsPayload))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(p.OrgID).To(Equal(int64(1)))
	g.Expect(p.State).To(Equal("alerting"))
	g.Expect(p.Alerts).To(HaveLen(2))
	g.Expect(p.Alerts[0].Values).To(HaveKeyWithValue("B", 44.23943737541908))
	g.Expect(p.Alerts[0].SilenceURL).To(HavePrefix("https://play.grafana.org/alerting/silence/new"))

	for name, tc := range map[string]struct{ body, want string }{
		"Alertmanager's version": {strings.Replace(grafanaDocsPayload, `"version": "1"`, `"version": "4"`, 1), `version must be "1"`},
		"no version":             {strings.Replace(grafanaDocsPayload, `"version": "1",`, ``, 1), `version must be "1"`},
		"malformed":              {grafanaDocsPayload[:100], "malformed JSON"},
		"values not numbers":     {strings.Replace(grafanaDocsPayload, `"C": 1}`, `"C": "x"}`, 1), "must be a JSON float64"},
		"no alerts":              {`{"version":"1","groupKey":"k","status":"firing","alerts":[]}`, "alerts is empty"},
	} {
		_, err := ParseGrafana([]byte(tc.body))
		g.Expect(err).To(MatchError(ContainSubstring(tc.want)), name)
	}
}

// A Grafana group is one message, edited in place when it resolves, with Grafana's links.
func TestGrafanaGroupLifecycle(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	before := testutil.ToFloat64(sourceNotificationsTotal.WithLabelValues(SourceGrafana, ResultCreated))
	r := f.post(t, grafanaPath, testToken, []byte(grafanaDocsPayload))
	g.Expect(r.code).To(Equal(http.StatusOK), "%+v", r.body)
	g.Expect(r.body.Result).To(Equal(ResultCreated))
	g.Expect(r.body.Name).To(HavePrefix("gf-"))
	g.Expect(r.body.Name).NotTo(Equal(Name("{}:{}", "oncall")), "Grafana's group keys never share Alertmanager's names")
	g.Expect(testutil.ToFloat64(sourceNotificationsTotal.WithLabelValues(SourceGrafana, ResultCreated))).To(Equal(before + 1))

	pm := &teamsv1alpha1.ProactiveMessage{}
	g.Expect(f.client.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: r.body.Name}, pm)).To(Succeed())
	g.Expect(pm.Labels).To(HaveKeyWithValue(SourceLabel, SourceGrafana))
	g.Expect(pm.Labels).To(HaveKeyWithValue(StatusLabel, StatusFiring))
	g.Expect(pm.Spec.Summary).To(Equal("[FIRING:2] team=blue"), "no common alertname: the group labels, else the common ones")
	text := cardText(t, pm.Spec.AdaptiveCard)
	for _, want := range []string{"Open Grafana", "https://play.grafana.org/", "Silence", "alertname%3DT2", "Panel",
		"viewPanel=1", "B=44.2394, C=1", "This alert was triggered for zone us-1", "Runbook"} {
		g.Expect(text).To(ContainSubstring(want))
	}
	g.Expect(text).NotTo(ContainSubstring("Open Alertmanager"))

	again := f.post(t, grafanaPath, testToken, []byte(grafanaDocsPayload))
	g.Expect(again.body.Result).To(Equal(ResultUnchanged))

	resolved := f.post(t, grafanaPath, testToken, grafanaResolved())
	g.Expect(resolved.code).To(Equal(http.StatusOK), "%+v", resolved.body)
	g.Expect(resolved.body).To(Equal(response{Result: ResultUpdated, Name: r.body.Name}))
	g.Expect(f.client.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: r.body.Name}, pm)).To(Succeed())
	g.Expect(cardText(t, pm.Spec.AdaptiveCard)).To(ContainSubstring("RESOLVED:2"))
	g.Expect(pm.Spec.TTLAfterFinished).NotTo(BeNil())
}

// With the namespace's Grafana key set, the signature is required and checked.
func TestGrafanaSignature(t *testing.T) {
	const key = "grafana-shared-secret"
	body := []byte(grafanaDocsPayload)
	now := strconv.FormatInt(time.Now().Unix(), 10)
	old := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	sig := func(ts string, b []byte) http.Header {
		h := http.Header{}
		h.Set(GrafanaSignatureHeader, grafanaSign(key, ts, b))
		if ts != "" {
			h.Set(GrafanaTimestampHeader, ts)
		}
		return h
	}
	tests := map[string]struct {
		header   http.Header
		wantCode int
		wantMsg  string
	}{
		"signed body":               {header: sig("", body), wantCode: 200},
		"signed timestamp:body":     {header: sig(now, body), wantCode: 200},
		"no signature":              {header: http.Header{}, wantCode: 401, wantMsg: "X-Grafana-Alerting-Signature header is required"},
		"signature of another body": {header: sig("", grafanaResolved()), wantCode: 401, wantMsg: "does not match"},
		"signature by another key":  {header: http.Header{GrafanaSignatureHeader: {grafanaSign("other", "", body)}}, wantCode: 401, wantMsg: "does not match"},
		"timestamp dropped": {header: http.Header{GrafanaSignatureHeader: {grafanaSign(key, now, body)}},
			wantCode: 401, wantMsg: "does not match"},
		"old timestamp": {header: sig(old, body), wantCode: 401, wantMsg: "more than 5m0s away"},
		"bad timestamp": {header: http.Header{GrafanaSignatureHeader: {"00"}, GrafanaTimestampHeader: {"yesterday"}}, wantCode: 401, wantMsg: "Unix seconds"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t)
			secret := &corev1.Secret{}
			g.Expect(f.client.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: DefaultTokenSecret}, secret)).To(Succeed())
			secret.Data[GrafanaHMACKey] = []byte(key + "\n")
			g.Expect(f.client.Update(context.Background(), secret)).To(Succeed())
			f.writes.Store(0)
			r := f.postWith(t, grafanaPath, tc.header, body)
			g.Expect(r.code).To(Equal(tc.wantCode), "%+v", r.body)
			g.Expect(r.body.Message).To(ContainSubstring(tc.wantMsg))
			if tc.wantCode != 200 {
				g.Expect(r.body.Reason).To(Equal(ReasonSignature))
				g.Expect(f.writes.Load()).To(BeZero())
			}
		})
	}
	// Without the key, no signature is needed: the bearer token is the namespace's gate.
	g := NewWithT(t)
	g.Expect(newFixture(t).postWith(t, grafanaPath, nil, body).code).To(Equal(200))
}

// The receiver's other URLs keep their answers: a Grafana body sent to Alertmanager's URL is
// refused for its version, and the reverse too.
func TestSourcesKeepTheirVersions(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	r := f.post(t, targetPath, testToken, []byte(grafanaDocsPayload))
	g.Expect(r.code).To(Equal(http.StatusBadRequest))
	g.Expect(r.body.Message).To(ContainSubstring(`version must be "4"`))
	r = f.post(t, grafanaPath, testToken, mustJSON(t, samplePayload(StatusFiring, 1)))
	g.Expect(r.code).To(Equal(http.StatusBadRequest))
	g.Expect(r.body.Message).To(ContainSubstring(`version must be "1"`))
	// A namespace without a token Secret is refused the same way on every source.
	r = f.post(t, "/grafana/v1/namespaces/other/targets/oncall", testToken, []byte(grafanaDocsPayload))
	g.Expect(r.code).To(Equal(http.StatusUnauthorized))
}
