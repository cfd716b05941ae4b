package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// CloudEvents over HTTP (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md),
// decoded by the CloudEvents Go SDK: binary mode (ce-* headers, the body is the data),
// structured mode (application/cloudevents+json) and batches (application/cloudevents-batch+json,
// at most MaxBatchEvents). Each event is one message: the built-in card, or the templates of
// ?template=<ConfigMap> as for the generic source.

// SourceCloudEvents is the CloudEvents source's name.
const SourceCloudEvents = "cloudevents"

// MaxBatchEvents caps the events of one batch (413 above it).
const MaxBatchEvents = 20

// CloudEvent is what templates see as .Data for a CloudEvent.
type CloudEvent struct {
	SpecVersion, ID, Source, Type, Subject, DataContentType, DataSchema string
	Time                                                                time.Time
	// Data is the event's data: decoded when it is JSON, else its text.
	Data any
	// Extensions are the extension attributes, as strings.
	Extensions map[string]string
}

// ParseCloudEvents decodes the request's events (the body already read into body).
func ParseCloudEvents(r *http.Request, body []byte) ([]CloudEvent, error) {
	req := r.Clone(r.Context())
	req.Body = http.NoBody
	if len(body) > 0 {
		req.Body = readCloser{bytes.NewReader(body)}
	}
	var events []event.Event
	if cehttp.IsHTTPBatch(r.Header) {
		var err error
		if events, err = cehttp.NewEventsFromHTTPRequest(req); err != nil {
			return nil, parseErrorf("not a CloudEvents batch: %v", err)
		}
		if len(events) == 0 {
			return nil, parseErrorf("the batch has no events")
		}
	} else {
		e, err := cehttp.NewEventFromHTTPRequest(req)
		if err != nil {
			return nil, parseErrorf("not a CloudEvent (binary mode needs the ce-specversion, ce-id, ce-source and ce-type headers; "+
				"structured mode the content type application/cloudevents+json): %v", err)
		}
		events = []event.Event{*e}
	}
	if len(events) > MaxBatchEvents {
		return nil, &tooMany{fmt.Sprintf("the batch has %d events, at most %d are accepted", len(events), MaxBatchEvents)}
	}
	out := make([]CloudEvent, len(events))
	for i, e := range events {
		if err := e.Validate(); err != nil {
			return nil, parseErrorf("event %d is not a valid CloudEvent: %v", i, err)
		}
		out[i] = cloudEvent(e)
	}
	return out, nil
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// tooMany is a body with more items than accepted (413).
type tooMany struct{ msg string }

func (e *tooMany) Error() string { return e.msg }

func cloudEvent(e event.Event) CloudEvent {
	ce := CloudEvent{
		SpecVersion: e.SpecVersion(), ID: e.ID(), Source: e.Source(), Type: e.Type(), Subject: e.Subject(),
		DataContentType: e.DataContentType(), DataSchema: e.DataSchema(), Time: e.Time(),
		Extensions: map[string]string{},
	}
	for k, v := range e.Extensions() {
		ce.Extensions[k] = fmt.Sprint(v)
	}
	raw := e.Data()
	if len(raw) > 0 {
		if v, err := decodeAny(raw); err == nil && (ce.DataContentType == "" || strings.Contains(ce.DataContentType, "json")) {
			ce.Data = v
		} else {
			ce.Data = string(raw)
		}
	}
	return ce
}

// key: events about the same subject of a source edit one message; without a subject, each event is its own.
func (ce *CloudEvent) key() string {
	if ce.Subject != "" {
		return ce.Source + " " + ce.Subject
	}
	return ce.Source + " id " + ce.ID
}

// CloudEventNotice is the built-in card of an event.
func CloudEventNotice(ce *CloudEvent) Notice {
	title := ce.Type
	if ce.Subject != "" {
		title += ": " + ce.Subject
	}
	facts := []Fact{{"Source", ce.Source}, {"Type", ce.Type}}
	if ce.Subject != "" {
		facts = append(facts, Fact{"Subject", ce.Subject})
	}
	facts = append(facts, Fact{"Id", ce.ID})
	if !ce.Time.IsZero() {
		facts = append(facts, Fact{"Time", ce.Time.UTC().Format(time.RFC3339)})
	}
	labels := map[string]string{"type": ce.Type, "source": ce.Source, "subject": ce.Subject}
	for _, k := range sortedKeys(ce.Extensions) {
		facts = append(facts, Fact{k, ce.Extensions[k]})
		labels[k] = ce.Extensions[k]
	}
	return Notice{Source: SourceCloudEvents, Key: ce.key(), Status: NoticeInfo, Title: title,
		Text: dataText(ce.Data), Facts: facts, Labels: labels, Data: ce}
}

// dataText shows an event's data as text: a string as it is, anything else as indented JSON.
func dataText(data any) string {
	switch d := data.(type) {
	case nil:
		return ""
	case string:
		return d
	default:
		b, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return ""
		}
		return string(b)
	}
}

func parseCloudEvents(ctx context.Context, req *request) ([]notification, error) {
	events, err := ParseCloudEvents(req.r, req.body)
	if err != nil {
		if tm, ok := err.(*tooMany); ok {
			return nil, reject(http.StatusRequestEntityTooLarge, ReasonTooLarge, "%s", tm.msg)
		}
		return nil, reject(http.StatusBadRequest, ReasonMalformed, "%v", err)
	}
	var gt *genericTemplates
	if name := req.r.URL.Query().Get("template"); name != "" {
		if gt, err = req.h.loadGenericTemplates(ctx, req.namespace, name); err != nil {
			return nil, err
		}
	}
	out := make([]notification, 0, len(events))
	for i := range events {
		n := CloudEventNotice(&events[i])
		n.Namespace = req.namespace
		if gt != nil {
			def := n
			def.Data = &events[i] // templates see the event
			n = *templatedNotice(ctx, req.h.o.Limits, def, gt)
		}
		out = append(out, noticeNotification{n: n, templates: gt})
	}
	return out, nil
}
