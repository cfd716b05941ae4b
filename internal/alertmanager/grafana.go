package alertmanager

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Grafana unified alerting's webhook contact point posts the group Alertmanager would, plus
// its own fields, as version "1":
// https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/
// (the body is webhookMessage in github.com/grafana/alerting, receivers/webhook/v1/webhook.go).
// Each group becomes one message per target, edited in place as with Alertmanager.

// GrafanaPayload is Grafana's webhook body.
type GrafanaPayload struct {
	Payload
	OrgID   int64  `json:"orgId"`
	Title   string `json:"title"`
	State   string `json:"state"`
	Message string `json:"message"`
}

// ParseGrafana decodes and checks a Grafana webhook body (version "1").
func ParseGrafana(body []byte) (*GrafanaPayload, error) {
	var p GrafanaPayload
	if err := decodeJSON(body, &p); err != nil {
		return nil, err
	}
	if p.Version != "1" {
		return nil, parseErrorf("version must be \"1\" (Grafana's webhook contact point), not %q; "+
			"a custom payload template changes the body and is not supported", p.Version)
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	p.source = SourceGrafana
	return &p, nil
}

func parseGrafana(_ context.Context, req *request) ([]notification, error) {
	p, err := ParseGrafana(req.body)
	if err != nil {
		return nil, reject(http.StatusBadRequest, ReasonMalformed, "%v", err)
	}
	return []notification{amNotification{p: &p.Payload, namespace: req.namespace}}, nil
}

// Keys of the token Secret that turn on a source's signature check.
const (
	// GrafanaHMACKey is the contact point's "HMAC Signature" secret.
	GrafanaHMACKey = "grafana-hmac-secret"
)

// signingKeys are the token Secret's keys the receiver reads besides the token.
var signingKeys = []string{GrafanaHMACKey, FluxHMACKey}

// Grafana's signature headers: the signature header is Grafana's default; the timestamp
// header has no default in Grafana, and docs/sources.md tells users to set this name.
const (
	GrafanaSignatureHeader = "X-Grafana-Alerting-Signature"
	GrafanaTimestampHeader = "X-Grafana-Alerting-Timestamp"
	// grafanaMaxSkew is how old (or early) a timestamped signature may be.
	grafanaMaxSkew = 5 * time.Minute
)

// verifyGrafana checks Grafana's HMAC signature when the namespace's token Secret has
// GrafanaHMACKey: hex HMAC-SHA256 of the body, or of "timestamp:body" when the timestamp
// header is sent (github.com/grafana/alerting, http/hmac.go). A timestamp must be recent.
func verifyGrafana(r *http.Request, body []byte, c *credentials) error {
	key, ok := c.keys[GrafanaHMACKey]
	if !ok {
		return nil
	}
	got := r.Header.Get(GrafanaSignatureHeader)
	if got == "" {
		return errSignature("the %s header is required: the namespace's token Secret has %q", GrafanaSignatureHeader, GrafanaHMACKey)
	}
	mac := hmac.New(sha256.New, key)
	if ts := r.Header.Get(GrafanaTimestampHeader); ts != "" {
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return errSignature("the %s header must be Unix seconds", GrafanaTimestampHeader)
		}
		if d := time.Since(time.Unix(sec, 0)); d > grafanaMaxSkew || d < -grafanaMaxSkew {
			return errSignature("the signature's timestamp is more than %s away from now (replayed, or a clock is wrong)", grafanaMaxSkew)
		}
		mac.Write([]byte(ts + ":"))
	}
	mac.Write(body)
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(strings.ToLower(strings.TrimSpace(got))), []byte(want)) {
		return errSignature("the %s signature does not match the body", GrafanaSignatureHeader)
	}
	return nil
}

func (p *Payload) sourceName() string {
	if p.source == "" {
		return SourceAlertmanager
	}
	return p.source
}

// sourceTitle is how a card names a source.
func sourceTitle(source string) string {
	if source == SourceGrafana {
		return "Grafana"
	}
	return "Alertmanager"
}

// maxValues caps the query values a card lists per alert.
const maxValues = 10

// formatValues shows Grafana's query values, e.g. "B=44.24, C=1".
func formatValues(values map[string]float64) string {
	keys := slices.Sorted(maps.Keys(values))
	parts := make([]string, 0, min(len(keys), maxValues))
	for _, k := range keys[:min(len(keys), maxValues)] {
		parts = append(parts, truncate(k, 64)+"="+strconv.FormatFloat(values[k], 'g', 6, 64))
	}
	if len(keys) > maxValues {
		parts = append(parts, fmt.Sprintf("and %d more", len(keys)-maxValues))
	}
	return strings.Join(parts, ", ")
}
