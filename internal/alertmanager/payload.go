// Package alertmanager receives Alertmanager webhook notifications and turns each alert group
// into one ProactiveMessage per ConversationTarget: created on the first notification, edited
// in place (onUpdate: Edit) when the group changes, and left alone when a repeat changes nothing.
package alertmanager

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Payload is Alertmanager's webhook body, version 4
// (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config).
type Payload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
	// source is the sender when it is not Alertmanager (grafana.go).
	source string
}

// Alert is one alert of a group.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	// Grafana's additions (its webhook contact point, grafana.go); Alertmanager sends none.
	SilenceURL   string             `json:"silenceURL,omitempty"`
	DashboardURL string             `json:"dashboardURL,omitempty"`
	PanelURL     string             `json:"panelURL,omitempty"`
	Values       map[string]float64 `json:"values,omitempty"`
	ValueString  string             `json:"valueString,omitempty"`
}

// Alert and group statuses.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// ParseError is a body the receiver refuses with 400; its text says why.
type ParseError struct{ msg string }

func (e *ParseError) Error() string { return e.msg }

func parseErrorf(format string, args ...any) error {
	return &ParseError{msg: fmt.Sprintf(format, args...)}
}

// Parse decodes and checks a webhook body. Unknown fields are accepted (Alertmanager may add
// some within version 4); a missing field the mapping needs is an error that names it.
func Parse(body []byte) (*Payload, error) {
	var p Payload
	if err := decodeJSON(body, &p); err != nil {
		return nil, err
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// decodeJSON decodes body into v with errors that say where the body is wrong.
func decodeJSON(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syntax):
			return parseErrorf("malformed JSON at byte %d: %v", syntax.Offset, syntax)
		case errors.As(err, &typ):
			return parseErrorf("field %q must be a JSON %s, not %s", typ.Field, typ.Type.Kind(), typ.Value)
		default:
			return parseErrorf("malformed JSON: %v", err)
		}
	}
	return nil
}

func (p *Payload) validate() error {
	if p.Version != "4" {
		return parseErrorf("version must be \"4\" (Alertmanager's webhook format), not %q", p.Version)
	}
	return p.check()
}

// check validates what the mapping needs, whatever the version (Grafana sends the same group).
func (p *Payload) check() error {
	switch {
	case p.GroupKey == "":
		return parseErrorf("groupKey is missing")
	case p.Status != StatusFiring && p.Status != StatusResolved:
		return parseErrorf("status must be %q or %q, not %q", StatusFiring, StatusResolved, p.Status)
	case len(p.Alerts) == 0:
		return parseErrorf("alerts is empty")
	case p.TruncatedAlerts < 0:
		return parseErrorf("truncatedAlerts must not be negative")
	}
	for i, a := range p.Alerts {
		if a.Status != StatusFiring && a.Status != StatusResolved {
			return parseErrorf("alerts[%d].status must be %q or %q, not %q", i, StatusFiring, StatusResolved, a.Status)
		}
	}
	return nil
}

// Counts returns how many of the alerts in the body fire and how many are resolved. Alerts
// Alertmanager left out (max_alerts, truncatedAlerts) have no status in the body.
func (p *Payload) Counts() (firing, resolved int) {
	for _, a := range p.Alerts {
		if a.Status == StatusFiring {
			firing++
		} else {
			resolved++
		}
	}
	return firing, resolved
}

// Severity is the group's severity label: common to all alerts, else the first alert's.
func (p *Payload) Severity() string {
	if s := p.CommonLabels["severity"]; s != "" {
		return s
	}
	for _, a := range p.Alerts {
		if s := a.Labels["severity"]; s != "" {
			return s
		}
	}
	return ""
}

// Title names the group: its alertname, or its group labels.
func (p *Payload) Title() string {
	if n := p.CommonLabels["alertname"]; n != "" {
		return n
	}
	if n := p.GroupLabels["alertname"]; n != "" {
		return n
	}
	labels := p.GroupLabels
	if len(labels) == 0 && p.source == SourceGrafana {
		// Grafana's default policy groups by nothing; its common labels still say what the group is.
		labels = p.CommonLabels
	}
	var parts []string
	for _, k := range sortedKeys(labels) {
		parts = append(parts, k+"="+labels[k])
	}
	if len(parts) == 0 {
		return "Alerts"
	}
	return strings.Join(parts, ", ")
}
