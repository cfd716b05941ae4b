package alertmanager

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"net/http"
	"strings"

	eventv1 "github.com/fluxcd/pkg/apis/event/v1"
)

// Flux's notification-controller posts one event per request to a `generic` or `generic-hmac`
// Provider: the JSON Event of github.com/fluxcd/pkg/apis/event/v1
// (https://fluxcd.io/flux/components/notification/providers/#generic-webhook). Each involved
// object at a revision is one message, edited as later events for that revision arrive: a
// HelmRelease upgrade that fails, retries and succeeds is one card that ends green.

// SourceFlux is Flux's source name.
const SourceFlux = "flux"

// FluxHMACKey is the token Secret's key holding the generic-hmac Provider's key (the `token`
// of the Provider's Secret); with it, the X-Signature header is required.
const FluxHMACKey = "flux-hmac-key"

// ParseFlux decodes and checks a Flux event.
func ParseFlux(body []byte) (*eventv1.Event, error) {
	var e eventv1.Event
	if err := decodeJSON(body, &e); err != nil {
		return nil, err
	}
	switch {
	case e.InvolvedObject.Kind == "" || e.InvolvedObject.Name == "":
		return nil, parseErrorf("involvedObject.kind and involvedObject.name are required (a Flux event)")
	case e.Severity != eventv1.EventSeverityInfo && e.Severity != eventv1.EventSeverityError && e.Severity != eventv1.EventSeverityTrace:
		return nil, parseErrorf("severity must be info, error or trace, not %q", e.Severity)
	case e.ReportingController == "":
		return nil, parseErrorf("reportingController is required (a Flux event)")
	}
	return &e, nil
}

func parseFlux(_ context.Context, req *request) ([]notification, error) {
	e, err := ParseFlux(req.body)
	if err != nil {
		return nil, reject(http.StatusBadRequest, ReasonMalformed, "%v", err)
	}
	data, err := decodeAny(req.body)
	if err != nil {
		return nil, reject(http.StatusBadRequest, ReasonMalformed, "%v", err)
	}
	n := FluxNotice(e)
	n.Namespace, n.Data = req.namespace, data
	return []notification{noticeNotification{n: n}}, nil
}

// fluxRevision is the event's revision: the keys Flux forwards (revision, originRevision,
// commit), or a key ending in "/revision" as controllers send it
// (kustomize.toolkit.fluxcd.io/revision in Flux's own example).
func fluxRevision(e *eventv1.Event) string {
	if r, ok := e.GetRevision(); ok {
		return r
	}
	for _, k := range sortedKeys(e.Metadata) {
		if strings.HasSuffix(k, "/revision") {
			return e.Metadata[k]
		}
	}
	return ""
}

// fluxStatus: an error failed; an info event succeeded unless its reason says the work goes on.
func fluxStatus(e *eventv1.Event) string {
	switch {
	case e.Severity == eventv1.EventSeverityError:
		return NoticeFailed
	case e.Severity == eventv1.EventSeverityTrace, strings.Contains(e.Reason, "Progressing"),
		strings.Contains(e.Reason, "Retry"), strings.HasSuffix(e.Reason, "Started"):
		return NoticeProgressing
	default:
		return NoticeSucceeded
	}
}

// FluxNotice is the card of a Flux event: one per involved object and revision.
func FluxNotice(e *eventv1.Event) Notice {
	o := e.InvolvedObject
	rev := fluxRevision(e)
	obj := o.Kind + " " + o.Name
	if o.Namespace != "" {
		obj = o.Kind + " " + o.Namespace + "/" + o.Name
	}
	facts := []Fact{{"Reason", e.Reason}}
	if rev != "" {
		facts = append(facts, Fact{"Revision", rev})
	}
	facts = append(facts, Fact{"Controller", e.ReportingController})
	// The Alert's summary and eventMetadata arrive as metadata; the revision is shown above.
	for _, k := range sortedKeys(e.Metadata) {
		if k != eventv1.MetaRevisionKey && !strings.HasSuffix(k, "/revision") && k != eventv1.MetaTokenKey {
			facts = append(facts, Fact{k, e.Metadata[k]})
		}
	}
	return Notice{
		Source: SourceFlux,
		Key:    fluxKey(e, rev),
		Status: fluxStatus(e),
		Title:  obj, Text: e.Message, Facts: facts,
		Labels: map[string]string{"kind": o.Kind, "name": o.Name, labelNamespace: o.Namespace,
			"severity": e.Severity, reasonKey: e.Reason, "revision": rev, "controller": e.ReportingController},
	}
}

// fluxKey names the object and revision, e.g. "Kustomization.kustomize.toolkit.fluxcd.io apps/webapp@main@sha1:731f".
func fluxKey(e *eventv1.Event, rev string) string {
	o := e.InvolvedObject
	group, _, _ := strings.Cut(o.APIVersion, "/")
	return o.Kind + "." + group + " " + o.Namespace + "/" + o.Name + "@" + rev
}

// verifyFlux checks the generic-hmac Provider's X-Signature header, "<hash-function>=<hex>"
// (https://fluxcd.io/flux/components/notification/providers/#generic-webhook-with-hmac),
// when the namespace's token Secret has FluxHMACKey.
func verifyFlux(r *http.Request, body []byte, c *credentials) error {
	key, ok := c.keys[FluxHMACKey]
	if !ok {
		return nil
	}
	got := r.Header.Get("X-Signature")
	if got == "" {
		return errSignature("the X-Signature header is required: the namespace's token Secret has %q (use a generic-hmac Provider)", FluxHMACKey)
	}
	alg, sum, _ := strings.Cut(got, "=")
	var newHash func() hash.Hash
	switch alg {
	case "sha224":
		newHash = sha256.New224
	case "sha256":
		newHash = sha256.New
	case "sha384":
		newHash = sha512.New384
	case "sha512":
		newHash = sha512.New
	default:
		return errSignature("X-Signature must be <sha224|sha256|sha384|sha512>=<hex>")
	}
	mac := hmac.New(newHash, key)
	mac.Write(body)
	if !hmac.Equal([]byte(strings.ToLower(sum)), []byte(hex.EncodeToString(mac.Sum(nil)))) {
		return errSignature("the X-Signature does not match the body")
	}
	return nil
}
