package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/emulator"
)

// peopleSelector is the manager's --receiver-person-namespace-selector in these tests.
const peopleSelector = "teams.operator.dev/people=allowed"

// amGroup is an Alertmanager webhook body (version 4, the fields of
// https://prometheus.io/docs/alerting/latest/configuration/#webhook_config) for one firing alert
// whose labels are the group's common labels.
func amGroup(t *testing.T, alertname string, labels map[string]string) []byte {
	t.Helper()
	lbls := map[string]string{"alertname": alertname}
	maps.Copy(lbls, labels)
	b, err := json.Marshal(map[string]any{
		"version": "4", "groupKey": `{}:{alertname="` + alertname + `"}`, "truncatedAlerts": 0, "status": "firing",
		"receiver": "teams", "groupLabels": map[string]string{"alertname": alertname}, "commonLabels": lbls,
		"commonAnnotations": map[string]string{"summary": alertname + " fires"}, "externalURL": "http://alertmanager.example:9093",
		"alerts": []map[string]any{{"status": "firing", "labels": lbls, "annotations": map[string]string{"summary": alertname + " fires"},
			"startsAt": "2024-05-02T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
			"generatorURL": "http://prometheus.example:9090/graph", "fingerprint": "c6eadffa33fcdf37"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testRoutingEndToEnd applies docs/sources.md's route.yaml and posts Alertmanager groups whose
// labels match overlapping rules (with continue), one rule, none (the default), and a label
// naming a person, refused while the namespace is not selected and allowed once it is: each
// group's messages go to the documented targets, and Teams (the emulator) shows them.
func testRoutingEndToEnd(t *testing.T, ctx context.Context, s *sourcesEnv) {
	g := NewWithT(t)
	route := &corev1.ConfigMap{}
	g.Expect(yaml.UnmarshalStrict([]byte(docBlock(t, "yaml", "# route.yaml")), route)).To(Succeed())
	g.Expect(route.Namespace).To(Equal(srcNamespace))
	g.Expect(s.env.Client.Create(ctx, route)).To(Succeed())
	// The route's targets, each a channel of the Platform team (oncall, General, exists already).
	for name, channel := range map[string]string{
		"db-team": emulator.DefaultAlertsChannelID, "web-team": emulator.DefaultDeploymentsChannelID,
		"web-leads": emulator.DefaultAlertsChannelID, "general": emulator.DefaultDeploymentsChannelID,
	} {
		g.Expect(s.env.Client.Create(ctx, &teamsv1alpha1.ConversationTarget{
			ObjectMeta: metav1.ObjectMeta{Namespace: srcNamespace, Name: name},
			Spec: teamsv1alpha1.ConversationTargetSpec{Channel: &teamsv1alpha1.ChannelTarget{
				TeamID: emulator.DefaultTeamID, ChannelID: channel}},
		})).To(Succeed())
	}
	u := s.base + "/alertmanager/v1/namespaces/" + srcNamespace + "/routes/" + route.Name
	header := http.Header{"Authorization": {"Bearer " + s.token}, "Content-Type": {"application/json"}}
	// targetsOf are the targets of the messages the receiver made for the group.
	targetsOf := func(alertname string) []string {
		list := &teamsv1alpha1.ProactiveMessageList{}
		g.Expect(s.env.Client.List(ctx, list, client.InNamespace(srcNamespace))).To(Succeed())
		var out []string
		for _, pm := range list.Items {
			if pm.Annotations["alertmanager.teams.operator.dev/group-key"] == `{}:{alertname="`+alertname+`"}` {
				out = append(out, pm.Spec.TargetRef.Name)
			}
		}
		slices.Sort(out)
		return out
	}
	shown := func(channel, alertname string) func(g Gomega) {
		return func(g Gomega) {
			var texts []string
			for _, a := range s.env.Emulator.ConversationActivities(channel) {
				texts = append(texts, string(a.Activity))
			}
			g.Expect(strings.Join(texts, "\n")).To(ContainSubstring(alertname + " fires"))
		}
	}
	for _, tc := range []struct {
		name     string
		labels   map[string]string
		want     []string
		channels []string
	}{
		// severity="critical" (continue) and team=~"db|storage", env!="dev": both; the walk stops there.
		{"DiskFull", map[string]string{"severity": "critical", "team": "db", "env": "prod"}, []string{"db-team", "oncall"},
			[]string{emulator.DefaultGeneralChannelID, emulator.DefaultAlertsChannelID}},
		// The first rule only: env="dev" fails the second, team="db" the third.
		{"DevDiskFull", map[string]string{"severity": "critical", "team": "db", "env": "dev"}, []string{"oncall"},
			[]string{emulator.DefaultGeneralChannelID}},
		// team="web": two targets of one rule.
		{"SlowPages", map[string]string{"severity": "warning", "team": "web"}, []string{"web-leads", "web-team"},
			[]string{emulator.DefaultDeploymentsChannelID, emulator.DefaultAlertsChannelID}},
		// No rule: the default.
		{"BackupLate", map[string]string{"team": "ops"}, []string{"general"}, []string{emulator.DefaultDeploymentsChannelID}},
	} {
		code, answer := s.post(t, ctx, u, header, amGroup(t, tc.name, tc.labels))
		g.Expect(code).To(Equal(http.StatusOK), "%s: %v", tc.name, answer)
		g.Expect(answer).NotTo(HaveKey("warnings"), tc.name)
		g.Expect(targetsOf(tc.name)).To(Equal(tc.want), tc.name)
		for _, ch := range tc.channels {
			g.Eventually(shown(ch, tc.name)).WithTimeout(90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), tc.name)
		}
	}

	// A person named in the route's personLabel (owner): refused, and said so, while the namespace
	// is not selected by --receiver-person-namespace-selector; nothing is created for the person.
	owner := map[string]string{"team": "ops", "owner": emulator.DefaultUserAdeleUPN}
	code, answer := s.post(t, ctx, u, header, amGroup(t, "CertExpiring", owner))
	g.Expect(code).To(Equal(http.StatusOK), "%v", answer)
	g.Expect(answer["warnings"]).To(ContainElement(ContainSubstring("may not address people by label")))
	g.Expect(targetsOf("CertExpiring")).To(Equal([]string{"general"}))
	cts := &teamsv1alpha1.ConversationTargetList{}
	g.Expect(s.env.Client.List(ctx, cts, client.InNamespace(srcNamespace))).To(Succeed())
	for _, ct := range cts.Items {
		g.Expect(ct.Name).NotTo(HavePrefix("person-"), "no target for a person while refused")
	}

	// Selected, the same label also reaches the person, in a 1:1 chat.
	ns := &corev1.Namespace{}
	g.Expect(s.env.Client.Get(ctx, client.ObjectKey{Name: srcNamespace}, ns)).To(Succeed())
	ns.Labels["teams.operator.dev/people"] = "allowed"
	g.Expect(s.env.Client.Update(ctx, ns)).To(Succeed())
	code, answer = s.post(t, ctx, u, header, amGroup(t, "CertExpired", owner))
	g.Expect(code).To(Equal(http.StatusOK), "%v", answer)
	g.Expect(answer).NotTo(HaveKey("warnings"))
	got := targetsOf("CertExpired")
	g.Expect(got).To(ConsistOf("general", HavePrefix("person-")))
	g.Eventually(func(g Gomega) {
		var personal []string
		for _, a := range s.env.Emulator.Activities() {
			if a.ConversationType == "personal" && a.UserID == emulator.DefaultUserAdeleID {
				personal = append(personal, string(a.Activity))
			}
		}
		g.Expect(strings.Join(personal, "\n")).To(ContainSubstring("CertExpired fires"))
	}).WithTimeout(90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), "Adele's 1:1 chat shows the group")
}

// testTemplateCheckEndToEnd saves a labelled template ConfigMap that loops: the manager binary
// records a Warning event on it, a notification that names it is shown with the built-in card
// (and the answer says so), and once fixed the ConfigMap gets a Normal event and the next
// notification uses it.
func testTemplateCheckEndToEnd(t *testing.T, ctx context.Context, s *sourcesEnv) {
	g := NewWithT(t)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: srcNamespace, Name: "checked-card",
		Labels: map[string]string{"alertmanager.teams.operator.dev/template": "alertmanager"}},
		Data: map[string]string{"card.tmpl": `{{ range 1000000000 }}{{ range 1000000000 }}x{{ end }}{{ end }}`}}
	g.Expect(s.env.Client.Create(ctx, cm)).To(Succeed())
	events := func(g Gomega) []eventsv1.Event {
		list := &eventsv1.EventList{}
		g.Expect(s.env.Client.List(ctx, list, client.InNamespace(srcNamespace))).To(Succeed())
		var out []eventsv1.Event
		for _, e := range list.Items {
			if e.Regarding.Kind == "ConfigMap" && e.Regarding.Name == cm.Name {
				out = append(out, e)
			}
		}
		return out
	}
	g.Eventually(events).WithTimeout(90 * time.Second).WithPolling(250 * time.Millisecond).Should(ContainElement(And(
		HaveField("Type", corev1.EventTypeWarning), HaveField("Reason", "ReceiverTemplateInvalid"),
		HaveField("Note", ContainSubstring("card.tmpl: card template: the template exceeds its budget")))))

	u := s.base + "/alertmanager/v1/namespaces/" + srcNamespace + "/targets/" + srcTarget + "?template=" + cm.Name
	header := http.Header{"Authorization": {"Bearer " + s.token}, "Content-Type": {"application/json"}}
	code, answer := s.post(t, ctx, u, header, amGroup(t, "QueueBacklog", nil))
	g.Expect(code).To(Equal(http.StatusOK), "%v", answer)
	g.Expect(answer["warnings"]).To(ContainElement(HaveSuffix("the built-in card was used")))
	g.Eventually(func(g Gomega) {
		var texts []string
		for _, a := range s.channel() {
			texts = append(texts, string(a.Activity))
		}
		g.Expect(strings.Join(texts, "\n")).To(ContainSubstring("QueueBacklog"))
	}).WithTimeout(90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), "the built-in card reached Teams")

	g.Expect(s.env.Client.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
	cm.Data["card.tmpl"] = `{"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": {{ json (printf "custom: %s" .Title) }}}]}`
	g.Expect(s.env.Client.Update(ctx, cm)).To(Succeed())
	g.Eventually(events).WithTimeout(90 * time.Second).WithPolling(250 * time.Millisecond).Should(ContainElement(And(
		HaveField("Type", corev1.EventTypeNormal), HaveField("Reason", "ReceiverTemplateValid"))))
	code, answer = s.post(t, ctx, u, header, amGroup(t, "QueueBacklog", nil))
	g.Expect(code).To(Equal(http.StatusOK), "%v", answer)
	g.Expect(answer).NotTo(HaveKey("warnings"))
	g.Eventually(func(g Gomega) {
		var texts []string
		for _, a := range s.channel() {
			texts = append(texts, string(a.Activity))
		}
		g.Expect(strings.Join(texts, "\n")).To(ContainSubstring("custom: QueueBacklog"))
	}).WithTimeout(90*time.Second).WithPolling(250*time.Millisecond).Should(Succeed(), "the fixed template edits the card")
}
