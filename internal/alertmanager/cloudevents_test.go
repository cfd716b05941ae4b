package alertmanager

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// ceStructured is the example of the CloudEvents JSON event format
// (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md, section 3.1 "Example"),
// sent in structured mode.
const ceStructured = `{
    "specversion" : "1.0",
    "type" : "com.github.pull_request.opened",
    "source" : "https://github.com/cloudevents/spec/pull",
    "subject" : "123",
    "id" : "A234-1234-1234",
    "time" : "2018-04-05T17:31:00Z",
    "comexampleextension1" : "value",
    "comexampleothervalue" : 5,
    "datacontenttype" : "text/xml",
    "data" : "<much wow=\"xml\"/>"
}`

// ceBinaryHeader is the binary-mode example of the HTTP protocol binding
// (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md, section 3.1.3).
func ceBinaryHeader() http.Header {
	return http.Header{
		"Ce-Specversion": {"1.0"}, "Ce-Type": {"com.example.someevent"}, "Ce-Time": {"2018-04-05T03:56:24Z"},
		"Ce-Id": {"1234-1234-1234"}, "Ce-Source": {"/mycontext/subcontext"},
		"Content-Type": {"application/json; charset=utf-8"},
	}
}

const cePath = "/cloudevents/v1/namespaces/alerts/targets/oncall"

func TestCloudEventsModes(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	get := func(name string) *teamsv1alpha1.ProactiveMessage {
		pm := &teamsv1alpha1.ProactiveMessage{}
		g.Expect(f.client.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: name}, pm)).To(Succeed())
		return pm
	}

	structured := f.postWith(t, cePath, http.Header{"Content-Type": {"application/cloudevents+json; charset=utf-8"}}, []byte(ceStructured))
	g.Expect(structured.code).To(Equal(http.StatusOK), "%+v", structured.body)
	g.Expect(structured.body.Name).To(HavePrefix("ce-"))
	pm := get(structured.body.Name)
	g.Expect(pm.Spec.Summary).To(Equal("[INFO] com.github.pull_request.opened: 123"))
	text := cardText(t, pm.Spec.AdaptiveCard)
	for _, want := range []string{`<much wow="xml"/>`, "https://github.com/cloudevents/spec/pull", "A234-1234-1234", "comexampleextension1", "value"} {
		g.Expect(text).To(ContainSubstring(want))
	}

	binary := f.postWith(t, cePath, ceBinaryHeader(), []byte(`{"state": "done", "items": 3}`))
	g.Expect(binary.code).To(Equal(http.StatusOK), "%+v", binary.body)
	pm = get(binary.body.Name)
	g.Expect(pm.Spec.Summary).To(Equal("[INFO] com.example.someevent"))
	g.Expect(cardText(t, pm.Spec.AdaptiveCard)).To(ContainSubstring(`"state": "done"`))

	// The same subject of the same source edits one message.
	next := strings.Replace(ceStructured, `"A234-1234-1234"`, `"A234-1234-1235"`, 1)
	again := f.postWith(t, cePath, http.Header{"Content-Type": {"application/cloudevents+json"}}, []byte(next))
	g.Expect(again.body).To(Equal(response{Result: ResultUpdated, Name: structured.body.Name}))
}

func TestCloudEventsTemplate(t *testing.T) {
	g := NewWithT(t)
	f := genericFixture(t, map[string]map[string]string{"pr": {
		TemplateKey: `{"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock",
  "text": {{ json (printf "PR %s from %s (%s)" .Data.Subject .Data.Source (index .Data.Extensions "comexampleextension1")) }}}]}`,
		StatusTemplateKey: `{{ if eq .Data.Type "com.github.pull_request.opened" }}progressing{{ else }}succeeded{{ end }}`,
	}})
	r := f.postWith(t, cePath+"?template=pr", http.Header{"Content-Type": {"application/cloudevents+json"}}, []byte(ceStructured))
	g.Expect(r.code).To(Equal(http.StatusOK), "%+v", r.body)
	pm := &teamsv1alpha1.ProactiveMessage{}
	g.Expect(f.client.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: r.body.Name}, pm)).To(Succeed())
	g.Expect(cardText(t, pm.Spec.AdaptiveCard)).To(ContainSubstring("PR 123 from https://github.com/cloudevents/spec/pull (value)"))
	g.Expect(pm.Labels).To(HaveKeyWithValue(StatusLabel, NoticeProgressing))
	g.Expect(pm.Spec.Summary).To(Equal("[PROGRESSING] com.github.pull_request.opened: 123"))
}

func TestCloudEventsRefusals(t *testing.T) {
	batchOf := func(n int) string {
		events := make([]string, n)
		for i := range events {
			events[i] = fmt.Sprintf(`{"specversion":"1.0","type":"t","source":"/s","id":"%d","subject":"s%d"}`, i, i)
		}
		return "[" + strings.Join(events, ",") + "]"
	}
	structured := http.Header{"Content-Type": {"application/cloudevents+json"}}
	batch := http.Header{"Content-Type": {"application/cloudevents-batch+json"}}
	tests := map[string]struct {
		header              http.Header
		body                string
		wantCode            int
		wantReason, wantMsg string
	}{
		"plain JSON":        {http.Header{"Content-Type": {"application/json"}}, `{"a":1}`, 400, ReasonMalformed, "not a CloudEvent"},
		"malformed JSON":    {structured, `{"specversion":`, 400, ReasonMalformed, "not a CloudEvent"},
		"wrong version":     {structured, strings.Replace(ceStructured, `"1.0"`, `"0.9"`, 1), 400, ReasonMalformed, "not a CloudEvent"},
		"no id":             {structured, strings.Replace(ceStructured, `"id" : "A234-1234-1234",`, ``, 1), 400, ReasonMalformed, "id"},
		"binary without id": {http.Header{"Ce-Specversion": {"1.0"}, "Ce-Type": {"t"}, "Ce-Source": {"/s"}}, `{}`, 400, ReasonMalformed, "id"},
		"empty batch":       {batch, `[]`, 400, ReasonMalformed, "no events"},
		"too many events":   {batch, batchOf(MaxBatchEvents + 1), 413, ReasonTooLarge, "at most 20"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t)
			r := f.postWith(t, cePath, tc.header, []byte(tc.body))
			g.Expect(r.code).To(Equal(tc.wantCode), "%+v", r.body)
			g.Expect(r.body.Reason).To(Equal(tc.wantReason))
			g.Expect(r.body.Message).To(ContainSubstring(tc.wantMsg))
			g.Expect(f.writes.Load()).To(BeZero())
		})
	}
	// A batch within the cap is one message per event.
	g := NewWithT(t)
	f := newFixture(t)
	r := f.postWith(t, cePath, batch, []byte(batchOf(3)))
	g.Expect(r.code).To(Equal(http.StatusOK), "%+v", r.body)
	g.Expect(f.writes.Load()).To(Equal(int32(3)))
}
