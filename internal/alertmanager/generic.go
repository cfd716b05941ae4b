package alertmanager

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"text/template"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// The generic source takes any JSON body and builds its message with templates kept in a
// ConfigMap of the namespace (?template=<name>), run under the same budget as every card
// template (template.go): text/template with a few pure functions, no environment, files or
// network, bounded output, iterations and time.

// SourceGeneric is the generic JSON source's name.
const SourceGeneric = "generic"

// Keys of a generic template ConfigMap besides TemplateKey (card.tmpl, required).
const (
	// KeyTemplateKey renders the message's identity: the same key edits the same message.
	// Absent or empty: a hash of the body, so only an identical body finds the same message.
	KeyTemplateKey = "key.tmpl"
	// StatusTemplateKey renders the status (a label value; "succeeded" is collected after the TTL).
	StatusTemplateKey = "status.tmpl"
	// TitleTemplateKey renders the title, which the activity feed shows as "[STATUS] title".
	TitleTemplateKey = "title.tmpl"
)

// genericTemplates are the parsed templates of one ConfigMap.
type genericTemplates struct {
	name                     string
	card, key, status, title *template.Template
}

// loadGenericTemplates reads the ConfigMap once per request and parses its templates.
func (h *handler) loadGenericTemplates(ctx context.Context, ns, name string) (*genericTemplates, error) {
	if name == "" {
		return nil, reject(http.StatusBadRequest, ReasonBadPath, "the %s source needs ?template=<ConfigMap> with a %q key", SourceGeneric, TemplateKey)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return nil, reject(http.StatusBadRequest, ReasonBadPath, "template %q is not a valid ConfigMap name: %s", name, strings.Join(errs, "; "))
	}
	cm := &corev1.ConfigMap{}
	if err := h.o.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, reject(http.StatusUnprocessableEntity, ReasonTemplate, "template ConfigMap %s/%s not found", ns, name)
		}
		return nil, err
	}
	gt := &genericTemplates{name: name}
	for _, k := range []struct {
		key      string
		into     **template.Template
		required bool
	}{{TemplateKey, &gt.card, true}, {KeyTemplateKey, &gt.key, false}, {StatusTemplateKey, &gt.status, false}, {TitleTemplateKey, &gt.title, false}} {
		text, ok := cm.Data[k.key]
		if !ok {
			if k.required {
				return nil, reject(http.StatusUnprocessableEntity, ReasonTemplate, "template ConfigMap %s/%s has no key %q", ns, name, k.key)
			}
			continue
		}
		t, err := ParseTemplate(name+"/"+k.key, text)
		if err != nil {
			return nil, reject(http.StatusUnprocessableEntity, ReasonTemplate, "ConfigMap %s/%s: %v", ns, name, err)
		}
		*k.into = t
	}
	return gt, nil
}

// text renders a short template (key, status, title) to at most limit runes, trimmed.
func (h *handler) text(t *template.Template, n *Notice, limit int, what string) (string, error) {
	if t == nil {
		return "", nil
	}
	out, err := ExecuteTemplate(t, n, h.o.Limits)
	if err != nil {
		return "", reject(http.StatusUnprocessableEntity, ReasonTemplate, "%s: %v", what, err)
	}
	s := strings.TrimSpace(string(out))
	if len(s) > limit*4 || len([]rune(s)) > limit {
		return "", reject(http.StatusUnprocessableEntity, ReasonTemplate, "%s: the output is longer than %d characters", what, limit)
	}
	return s, nil
}

// statusValue checks a rendered status: it is a label value.
func statusValue(s string) error {
	if errs := validation.IsValidLabelValue(s); len(errs) > 0 {
		return fmt.Errorf("status %q is not a label value: %s", s, strings.Join(errs, "; "))
	}
	return nil
}

func parseGeneric(ctx context.Context, req *request) ([]notification, error) {
	data, err := decodeAny(req.body)
	if err != nil {
		return nil, reject(http.StatusBadRequest, ReasonMalformed, "%v", err)
	}
	gt, err := req.h.loadGenericTemplates(ctx, req.namespace, req.r.URL.Query().Get("template"))
	if err != nil {
		return nil, err
	}
	n, err := req.h.templatedNotice(SourceGeneric, req.namespace, data, gt, req.body)
	if err != nil {
		return nil, err
	}
	return []notification{noticeNotification{n: *n, templates: gt}}, nil
}

// templatedNotice builds a notice from data with the key, status and title templates of gt.
func (h *handler) templatedNotice(source, ns string, data any, gt *genericTemplates, body []byte) (*Notice, error) {
	n := &Notice{Namespace: ns, Source: source, Status: NoticeInfo, Data: data, Labels: scalarFields(data)}
	var err error
	if n.Key, err = h.text(gt.key, n, maxKey, KeyTemplateKey); err != nil {
		return nil, err
	}
	if n.Key == "" {
		sum := sha256.Sum256(body)
		n.Key = "body:" + hex.EncodeToString(sum[:])
	}
	status, err := h.text(gt.status, n, 63, StatusTemplateKey)
	if err != nil {
		return nil, err
	}
	if status != "" {
		if err := statusValue(status); err != nil {
			return nil, reject(http.StatusUnprocessableEntity, ReasonTemplate, "%s: %v", StatusTemplateKey, err)
		}
		n.Status = status
	}
	if n.Title, err = h.text(gt.title, n, h.o.Limits.MaxValueLen, TitleTemplateKey); err != nil {
		return nil, err
	}
	if n.Title == "" {
		n.Title = source + " notification"
	}
	return n, nil
}

// scalarFields are a JSON object's top-level strings, numbers and booleans: the labels a
// route matches for a body that has no labels of its own.
func scalarFields(data any) map[string]string {
	out := map[string]string{}
	m, ok := data.(map[string]any)
	if !ok {
		return out
	}
	for k, v := range m {
		switch v.(type) {
		case string, bool, fmt.Stringer: // json.Number is a Stringer
			if len(out) < maxNoticeFacts*5 {
				out[k] = fmt.Sprint(v)
			}
		}
	}
	return out
}

// renderTemplated renders the card of a notice with its ConfigMap's card template.
func (h *handler) renderTemplated(n *Notice, gt *genericTemplates) (*teamsv1alpha1.AdaptiveCard, error) {
	card, err := RenderTemplate(gt.card, n, h.o.Limits)
	if err != nil {
		return nil, reject(http.StatusUnprocessableEntity, ReasonTemplate, "ConfigMap %s/%s: %v", n.Namespace, gt.name, err)
	}
	return card, nil
}
