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
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// fluxDocsEvent is the generic webhook body of Flux's Provider documentation
// (https://fluxcd.io/flux/components/notification/providers/#generic-webhook;
// fluxcd/notification-controller docs/spec/v1beta3/providers.md), as printed there.
const fluxDocsEvent = `{
  "involvedObject": {
    "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
    "kind": "Kustomization",
    "name": "webapp",
    "namespace": "apps",
    "uid": "7d0cdc51-ddcf-4743-b223-83ca5c699632"
  },
  "metadata": {
    "kustomize.toolkit.fluxcd.io/revision": "main/731f7eaddfb6af01cb2173e18f0f75b0ba780ef1"
  },
  "severity":"error",
  "reason": "ValidationFailed",
  "message":"service/apps/webapp validation error: spec.type: Unsupported value: Ingress",
  "reportingController":"kustomize-controller",
  "reportingInstance":"kustomize-controller-7c7b47f5f-8bhrp",
  "timestamp":"2022-10-28T07:26:19Z"
}`

// helmEvent is a helm-controller event for apps/podinfo at chart version 6.5.4, as the
// notification-controller forwards it (the revision key without its API group prefix); the
// reasons are helm-controller's (github.com/fluxcd/helm-controller/api/v2 reasons.go).
func helmEvent(severity, reason, message string) []byte {
	return []byte(`{
  "involvedObject": {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "name": "podinfo",
    "namespace": "apps", "uid": "5c2a7f0e-2a0b-4b6e-9a55-1b2c3d4e5f60"},
  "metadata": {"revision": "6.5.4", "summary": "prod cluster"},
  "severity": "` + severity + `", "reason": "` + reason + `", "message": "` + message + `",
  "reportingController": "helm-controller", "timestamp": "2024-05-02T10:00:00Z"}`)
}

const fluxPath = "/flux/v1/namespaces/alerts/targets/oncall"

func TestParseFlux(t *testing.T) {
	g := NewWithT(t)
	e, err := ParseFlux([]byte(fluxDocsEvent))
	g.Expect(err).NotTo(HaveOccurred())
	n := FluxNotice(e)
	g.Expect(n.Status).To(Equal(NoticeFailed))
	g.Expect(n.Title).To(Equal("Kustomization apps/webapp"))
	g.Expect(n.Facts).To(ContainElement(Fact{"Revision", "main/731f7eaddfb6af01cb2173e18f0f75b0ba780ef1"}))
	g.Expect(n.Key).To(Equal("Kustomization.kustomize.toolkit.fluxcd.io apps/webapp@main/731f7eaddfb6af01cb2173e18f0f75b0ba780ef1"))

	for name, tc := range map[string]struct{ body, want string }{
		"malformed":            {fluxDocsEvent[:50], "malformed JSON"},
		"not an event":         {`{"version":"4","alerts":[]}`, "involvedObject.kind and involvedObject.name are required"},
		"unknown severity":     {strings.Replace(fluxDocsEvent, `"severity":"error"`, `"severity":"fatal"`, 1), `severity must be info, error or trace, not "fatal"`},
		"no controller":        {strings.Replace(fluxDocsEvent, `"reportingController":"kustomize-controller",`, ``, 1), "reportingController is required"},
		"object of wrong type": {`{"involvedObject": "webapp"}`, "must be a JSON struct"},
	} {
		_, err := ParseFlux([]byte(tc.body))
		g.Expect(err).To(MatchError(ContainSubstring(tc.want)), name)
	}
}

// A HelmRelease upgrade that fails, retries, then succeeds is one card that ends green; the
// next chart version is a new card.
func TestFluxRevisionLifecycle(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	get := func(name string) *teamsv1alpha1.ProactiveMessage {
		pm := &teamsv1alpha1.ProactiveMessage{}
		g.Expect(f.client.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: name}, pm)).To(Succeed())
		return pm
	}
	r := f.post(t, fluxPath, testToken, helmEvent("error", "UpgradeFailed",
		"Helm upgrade failed for release apps/podinfo with chart podinfo@6.5.4: timed out waiting for the condition"))
	g.Expect(r.code).To(Equal(http.StatusOK), "%+v", r.body)
	g.Expect(r.body.Result).To(Equal(ResultCreated))
	g.Expect(r.body.Name).To(HavePrefix("fx-"))
	pm := get(r.body.Name)
	g.Expect(pm.Labels).To(HaveKeyWithValue(SourceLabel, SourceFlux))
	g.Expect(pm.Labels).To(HaveKeyWithValue(StatusLabel, NoticeFailed))
	g.Expect(pm.Spec.Summary).To(Equal("[FAILED] HelmRelease apps/podinfo"))
	text := cardText(t, pm.Spec.AdaptiveCard)
	g.Expect(text).To(ContainSubstring("timed out waiting for the condition"))
	g.Expect(string(pm.Spec.AdaptiveCard.Body[0].Raw)).To(ContainSubstring(`"color":"Attention"`))
	g.Expect(text).To(ContainSubstring("prod cluster"), "the Alert's summary is shown")
	g.Expect(pm.Spec.TTLAfterFinished).To(BeNil())

	retry := f.post(t, fluxPath, testToken, helmEvent("info", "Progressing", "Running 'upgrade' action with timeout of 5m0s"))
	g.Expect(retry.body).To(Equal(response{Result: ResultUpdated, Name: r.body.Name}))
	g.Expect(get(r.body.Name).Labels).To(HaveKeyWithValue(StatusLabel, NoticeProgressing))

	ok := f.post(t, fluxPath, testToken, helmEvent("info", "UpgradeSucceeded",
		"Helm upgrade succeeded for release apps/podinfo.v3 with chart podinfo@6.5.4"))
	g.Expect(ok.body).To(Equal(response{Result: ResultUpdated, Name: r.body.Name}), "the same card, edited")
	pm = get(r.body.Name)
	g.Expect(pm.UID).NotTo(BeEmpty())
	g.Expect(pm.Labels).To(HaveKeyWithValue(StatusLabel, NoticeSucceeded))
	g.Expect(string(pm.Spec.AdaptiveCard.Body[0].Raw)).To(And(ContainSubstring(`"color":"Good"`), ContainSubstring("SUCCEEDED: HelmRelease apps/podinfo")))
	g.Expect(pm.Spec.TTLAfterFinished).NotTo(BeNil(), "a finished revision is collected")

	again := f.post(t, fluxPath, testToken, helmEvent("info", "UpgradeSucceeded",
		"Helm upgrade succeeded for release apps/podinfo.v3 with chart podinfo@6.5.4"))
	g.Expect(again.body.Result).To(Equal(ResultUnchanged))

	next := f.post(t, fluxPath, testToken, []byte(strings.Replace(string(helmEvent("info", "UpgradeSucceeded", "ok")),
		`"revision": "6.5.4"`, `"revision": "6.5.5"`, 1)))
	g.Expect(next.body.Result).To(Equal(ResultCreated))
	g.Expect(next.body.Name).NotTo(Equal(r.body.Name), "another revision is another card")
}

func fluxSign(newHash func() hash.Hash, alg, key string, body []byte) string {
	mac := hmac.New(newHash, []byte(key))
	mac.Write(body)
	return alg + "=" + hex.EncodeToString(mac.Sum(nil))
}

// With the namespace's Flux key (the generic-hmac Provider's token), X-Signature is required.
func TestFluxSignature(t *testing.T) {
	const key = "flux-provider-token"
	body := []byte(fluxDocsEvent)
	tests := map[string]struct {
		sig      string
		wantCode int
		wantMsg  string
	}{
		"sha256 (Flux's default)": {sig: fluxSign(sha256.New, "sha256", key, body), wantCode: 200},
		"sha512":                  {sig: fluxSign(sha512.New, "sha512", key, body), wantCode: 200},
		"none":                    {wantCode: 401, wantMsg: "X-Signature header is required"},
		"another key":             {sig: fluxSign(sha256.New, "sha256", "guess", body), wantCode: 401, wantMsg: "does not match"},
		"another body":            {sig: fluxSign(sha256.New, "sha256", key, []byte(`{}`)), wantCode: 401, wantMsg: "does not match"},
		"named wrongly":           {sig: fluxSign(sha256.New, "sha512", key, body), wantCode: 401, wantMsg: "does not match"},
		"unknown hash":            {sig: "md5=abc", wantCode: 401, wantMsg: "sha224|sha256|sha384|sha512"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t)
			secret := &corev1.Secret{}
			g.Expect(f.client.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: DefaultTokenSecret}, secret)).To(Succeed())
			secret.Data[FluxHMACKey] = []byte(key)
			g.Expect(f.client.Update(context.Background(), secret)).To(Succeed())
			f.writes.Store(0)
			h := http.Header{}
			if tc.sig != "" {
				h.Set("X-Signature", tc.sig)
			}
			r := f.postWith(t, fluxPath, h, body)
			g.Expect(r.code).To(Equal(tc.wantCode), "%+v", r.body)
			g.Expect(r.body.Message).To(ContainSubstring(tc.wantMsg))
			if tc.wantCode != 200 {
				g.Expect(r.body.Reason).To(Equal(ReasonSignature))
				g.Expect(f.writes.Load()).To(BeZero())
			}
		})
	}
}
