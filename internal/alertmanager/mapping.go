package alertmanager

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// Labels and annotations on the ProactiveMessages the receiver writes.
const (
	// ManagedByLabel marks the receiver's messages, so `kubectl get pmsg -l` finds them.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "teams-operator-alertmanager"
	// StatusLabel is the group's status, firing or resolved.
	StatusLabel = "alertmanager.teams.operator.dev/status"
	// GroupKeyAnnotation is Alertmanager's group key (too long and free-form for a label).
	GroupKeyAnnotation = "alertmanager.teams.operator.dev/group-key"
	// ReceiverAnnotation is the Alertmanager receiver that sent the group.
	ReceiverAnnotation = "alertmanager.teams.operator.dev/receiver"
	// TemplateAnnotation names the ConfigMap whose template rendered the card; absent: built-in.
	TemplateAnnotation = "alertmanager.teams.operator.dev/template"
	// SourceLabel names the sender of a message from a source other than Alertmanager
	// (grafana, flux, ...); Alertmanager's messages have none, as before there were sources.
	SourceLabel = "alertmanager.teams.operator.dev/source"
)

// maxGroupKey caps the group key annotation; the name comes from the whole key.
const maxGroupKey = 4096

// Name is the ProactiveMessage of an alert group at a target: "am-" and 16 hex digits of a
// hash of both, so every notification of the group finds the same object.
func Name(groupKey, target string) string {
	h := sha256.Sum256([]byte(groupKey + "\x00" + target))
	return "am-" + hex.EncodeToString(h[:8])
}

// sourceName is the message of key at target for a source other than Alertmanager: the
// source's prefix (so no two sources share a name) and a hash of the source, key and target.
func sourceName(source, key, target string) string {
	h := sha256.Sum256([]byte(source + "\x00" + key + "\x00" + target))
	return namePrefixes[source] + "-" + hex.EncodeToString(h[:8])
}

// namePrefixes start the names of each source's messages.
var namePrefixes = map[string]string{
	SourceAlertmanager: "am", SourceGrafana: "gf", SourceFlux: "fx", SourceArgoCD: "cd", SourceGeneric: "gn", SourceCloudEvents: "ce",
}

// messageName is the name of the group's message at its target.
func messageName(v *View) string {
	if v.Source == SourceAlertmanager || v.Source == "" {
		return Name(v.GroupKey, v.Target)
	}
	return sourceName(v.Source, v.GroupKey, v.Target)
}

// Message is what the receiver wants the group's ProactiveMessage to be.
func Message(v *View, card *teamsv1alpha1.AdaptiveCard, templateName string, resolvedTTL time.Duration) *teamsv1alpha1.ProactiveMessage {
	pm := &teamsv1alpha1.ProactiveMessage{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: v.Namespace,
			Name:      messageName(v),
			Labels:    map[string]string{ManagedByLabel: ManagedByValue, StatusLabel: v.Status},
			Annotations: map[string]string{
				GroupKeyAnnotation: truncate(v.GroupKey, maxGroupKey),
				ReceiverAnnotation: truncate(v.Receiver, 253),
			},
		},
		Spec: teamsv1alpha1.ProactiveMessageSpec{
			TargetRef:    teamsv1alpha1.LocalObjectReference{Name: v.Target},
			Summary:      v.Summary(),
			AdaptiveCard: card,
			// A resolved notification edits the firing message in place.
			OnUpdate: teamsv1alpha1.OnUpdateEdit,
			// Alerts go before the cluster's other messages (docs/performance.md).
			Priority: teamsv1alpha1.PriorityHigh,
		},
	}
	if templateName != "" {
		pm.Annotations[TemplateAnnotation] = templateName
	}
	if v.Source != SourceAlertmanager && v.Source != "" {
		pm.Labels[SourceLabel] = v.Source
	} else {
		// What the card's buttons need: the labels a silence matches, and the Alertmanager the
		// group came from (checked against the namespace's, never called).
		if m := matchersAnnotation(v.exactCommonLabels); m != "" {
			pm.Annotations[MatchersAnnotation] = m
		}
		if u, ok := safeURL(v.ExternalURL); ok {
			pm.Annotations[ExternalURLAnnotation] = u
		}
	}
	// Only a resolved group is collected: a firing one must stay to be edited when it resolves.
	if v.Status == StatusResolved && resolvedTTL > 0 {
		pm.Spec.TTLAfterFinished = &metav1.Duration{Duration: resolvedTTL}
	}
	return pm
}

// apply copies the receiver's part of want onto have and reports whether anything changed.
// Other fields (defaults, other labels, the operator's annotations) are left as they are.
func apply(have, want *teamsv1alpha1.ProactiveMessage) bool {
	changed := false
	for _, m := range []struct {
		have *map[string]string
		want map[string]string
	}{
		{&have.Labels, want.Labels}, {&have.Annotations, want.Annotations},
	} {
		if *m.have == nil {
			*m.have = map[string]string{}
		}
		for k, v := range m.want {
			if (*m.have)[k] != v {
				(*m.have)[k], changed = v, true
			}
		}
	}
	// The receiver's optional annotations go when the notification no longer has them.
	for _, k := range []string{TemplateAnnotation, MatchersAnnotation, ExternalURLAnnotation} {
		if _, ok := have.Annotations[k]; ok && want.Annotations[k] == "" {
			delete(have.Annotations, k)
			changed = true
		}
	}
	s, w := &have.Spec, &want.Spec
	if s.Summary != w.Summary || s.OnUpdate != w.OnUpdate || !sameJSON(s.AdaptiveCard, w.AdaptiveCard) ||
		!equality.Semantic.DeepEqual(s.TTLAfterFinished, w.TTLAfterFinished) {
		s.Summary, s.OnUpdate, s.AdaptiveCard, s.TTLAfterFinished = w.Summary, w.OnUpdate, w.AdaptiveCard, w.TTLAfterFinished
		changed = true
	}
	return changed
}

// sameJSON compares two cards as JSON values: the API server re-encodes the card's raw JSON
// (key order, escaping), so equal cards need not be equal bytes.
func sameJSON(a, b *teamsv1alpha1.AdaptiveCard) bool {
	var va, vb any
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA != nil || errB != nil || json.Unmarshal(ja, &va) != nil || json.Unmarshal(jb, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}
