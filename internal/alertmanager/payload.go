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
	if err := json.Unmarshal(body, &p); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syntax):
			return nil, parseErrorf("malformed JSON at byte %d: %v", syntax.Offset, syntax)
		case errors.As(err, &typ):
			return nil, parseErrorf("field %q must be a JSON %s, not %s", typ.Field, typ.Type.Kind(), typ.Value)
		default:
			return nil, parseErrorf("malformed JSON: %v", err)
		}
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

func (p *Payload) validate() error {
	switch {
	case p.Version != "4":
		return parseErrorf("version must be \"4\" (Alertmanager's webhook format), not %q", p.Version)
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
	var parts []string
	for _, k := range sortedKeys(p.GroupLabels) {
		parts = append(parts, k+"="+p.GroupLabels[k])
	}
	if len(parts) == 0 {
		return "Alerts"
	}
	return strings.Join(parts, ", ")
}
