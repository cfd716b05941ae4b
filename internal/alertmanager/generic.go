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

// genericTemplates are the parsed templates of one ConfigMap; a key that is absent or broken is nil.
type genericTemplates struct {
	// where names the ConfigMap in notes: "template ConfigMap ns/name".
	where                    string
	card, key, status, title *template.Template
}

// templateKeys are the keys of a template ConfigMap and what replaces each when it is absent or broken.
var templateKeys = []struct{ key, builtin string }{
	{TemplateKey, "the built-in card was used"},
	{KeyTemplateKey, "the default key was used"},
	{StatusTemplateKey, "the status " + NoticeInfo + " was used"},
	{TitleTemplateKey, "the default title was used"},
}

// templateConfigMap reads the template ConfigMap name of ns. A bad name or a missing ConfigMap
// is the sender's URL being wrong: a 4xx, not a fallback.
func (h *handler) templateConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
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
	return cm, nil
}

// parseTemplateSet parses the keys of a template ConfigMap's data (card.tmpl only, unless all);
// a key that does not parse is left nil and noted, and so is a missing card.tmpl.
func parseTemplateSet(ctx context.Context, where string, data map[string]string, all bool) *genericTemplates {
	gt := &genericTemplates{where: where}
	into := map[string]**template.Template{TemplateKey: &gt.card, KeyTemplateKey: &gt.key,
		StatusTemplateKey: &gt.status, TitleTemplateKey: &gt.title}
	for _, k := range templateKeys {
		if !all && k.key != TemplateKey {
			continue
		}
		text, ok := data[k.key]
		if !ok {
			if k.key == TemplateKey {
				noteFallback(ctx, "%s has no key %q; %s", where, k.key, k.builtin)
			}
			continue
		}
		t, err := ParseTemplate(k.key, text)
		if err != nil {
			noteFallback(ctx, "%s: %s: %v; %s", where, k.key, err, k.builtin)
			continue
		}
		*into[k.key] = t
	}
	return gt
}

// loadGenericTemplates reads the ConfigMap once per request and parses its templates.
func (h *handler) loadGenericTemplates(ctx context.Context, ns, name string) (*genericTemplates, error) {
	if name == "" {
		return nil, reject(http.StatusBadRequest, ReasonBadPath, "the %s source needs ?template=<ConfigMap> with a %q key", SourceGeneric, TemplateKey)
	}
	cm, err := h.templateConfigMap(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	return parseTemplateSet(ctx, templateWhere(ns, name), cm.Data, true), nil
}

func templateWhere(ns, name string) string { return "template ConfigMap " + ns + "/" + name }

// renderShort renders a short template (key, status, title) to at most limit runes, trimmed.
func renderShort(t *template.Template, n *Notice, lim Limits, limit int) (string, error) {
	out, err := ExecuteTemplate(t, n, lim)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(out))
	if len(s) > limit*4 || len([]rune(s)) > limit {
		return "", fmt.Errorf("the output is longer than %d characters", limit)
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
	n := templatedNotice(ctx, req.h.o.Limits, genericNotice(req.namespace, data, req.body), gt)
	return []notification{noticeNotification{n: *n, templates: gt}}, nil
}

// templatedNotice builds a notice from data with the key, status and title templates of gt,
// starting from def (the source's own key, title, text, facts and labels). A template that
// fails is noted and def's value used.
func templatedNotice(ctx context.Context, lim Limits, def Notice, gt *genericTemplates) *Notice {
	n := &def
	n.Status = NoticeInfo
	text := func(t *template.Template, key string, limit int, check func(string) error) string {
		if t == nil {
			return ""
		}
		s, err := renderShort(t, n, lim, limit)
		if err == nil && s != "" && check != nil {
			err = check(s)
		}
		if err != nil {
			noteFallback(ctx, "%s: %s: %v; %s", gt.where, key, err, builtinOf(key))
			return ""
		}
		return s
	}
	if key := text(gt.key, KeyTemplateKey, maxKey, nil); key != "" {
		n.Key = key
	}
	if status := text(gt.status, StatusTemplateKey, 63, statusValue); status != "" {
		n.Status = status
	}
	if title := text(gt.title, TitleTemplateKey, lim.MaxValueLen, nil); title != "" {
		n.Title = title
	}
	return n
}

// genericNotice is the notice of a generic body before its templates run: its key a hash of
// the body (only an identical body finds the message again), its text the body.
func genericNotice(ns string, data any, body []byte) Notice {
	sum := sha256.Sum256(body)
	return Notice{Namespace: ns, Source: SourceGeneric, Key: "body:" + hex.EncodeToString(sum[:]),
		Title: SourceGeneric + " notification", Text: truncate(dataText(data), maxNoticeText),
		Data: data, Labels: scalarFields(data)}
}

// builtinOf says what replaces a template key.
func builtinOf(key string) string {
	for _, k := range templateKeys {
		if k.key == key {
			return k.builtin
		}
	}
	return "the built-in was used"
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

// renderTemplated renders the card of a notice with its ConfigMap's card template, or the
// built-in card when that template is absent or fails.
func (h *handler) renderTemplated(ctx context.Context, n *Notice, gt *genericTemplates) (*teamsv1alpha1.AdaptiveCard, error) {
	return renderOrBuiltin(ctx, gt.where, gt.card, n, h.o.Limits, func() (*teamsv1alpha1.AdaptiveCard, error) { return NoticeCard(n) })
}
