package alertmanager

import (
	"context"
	"encoding/pem"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestParseAPIConfig(t *testing.T) {
	g := NewWithT(t)
	cfg, err := ParseAPIConfig(map[string][]byte{APIURLKey: []byte("https://alertmanager.monitoring.svc:9093/am/\n")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.URL.String()).To(Equal("https://alertmanager.monitoring.svc:9093/am/"))
	g.Expect(cfg.Durations).To(Equal([]time.Duration{time.Hour, 4 * time.Hour, 24 * time.Hour}))
	g.Expect(cfg.Buttons).To(BeTrue())

	cfg, err = ParseAPIConfig(map[string][]byte{
		APIURLKey: []byte("https://am.monitoring.svc:9093"), APIExternalURLKey: []byte("https://alerts.example.com/"),
		APITokenKey: []byte("t0ken\n"), APIDurationsKey: []byte("30m, 2h,2h,168h"), APIButtonsKey: []byte("true"),
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.Token).To(Equal("t0ken"))
	g.Expect(cfg.Durations).To(Equal([]time.Duration{30 * time.Minute, 2 * time.Hour, 168 * time.Hour}))
	g.Expect(cfg.Names("https://alerts.example.com")).To(BeTrue())
	g.Expect(cfg.Names("https://AM.monitoring.svc:9093/")).To(BeTrue())
	g.Expect(cfg.Names("https://alerts.example.com.evil.example")).To(BeFalse())
	g.Expect(cfg.Names("https://alerts.example.com/other")).To(BeFalse())
	g.Expect(cfg.Names("http://alerts.example.com")).To(BeFalse())
	g.Expect(cfg.Names("https://user@alerts.example.com")).To(BeFalse())
	g.Expect(cfg.Names("")).To(BeFalse())

	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	cfg, err = ParseAPIConfig(map[string][]byte{APIURLKey: []byte("https://am"), APICAKey: ca, APIUsernameKey: []byte("u"), APIPasswordKey: []byte("p")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.CAPEM).To(Equal(ca))
	g.Expect(cfg.Username).To(Equal("u"))

	cfg, err = ParseAPIConfig(map[string][]byte{APIURLKey: []byte("http://am:9093"), APIButtonsKey: []byte("false")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.Buttons).To(BeFalse())
}

func TestParseAPIConfigRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		data map[string]string
		want string
	}{
		"no url":             {map[string]string{}, `"url" (Alertmanager's URL) is missing`},
		"not http":           {map[string]string{APIURLKey: "ftp://am"}, "http or https"},
		"no host":            {map[string]string{APIURLKey: "https:///api"}, "no host"},
		"userinfo":           {map[string]string{APIURLKey: "https://u:p@am"}, "must not carry credentials"},
		"query":              {map[string]string{APIURLKey: "https://am/?x=1"}, "no query"},
		"long url":           {map[string]string{APIURLKey: "https://am/" + strings.Repeat("a", 3000)}, "longer than 2048"},
		"bad external":       {map[string]string{APIURLKey: "https://am", APIExternalURLKey: "am.example"}, `"externalURL"`},
		"token over http":    {map[string]string{APIURLKey: "http://am", APITokenKey: "t"}, "only over https"},
		"password over http": {map[string]string{APIURLKey: "http://am", APIUsernameKey: "u", APIPasswordKey: "p"}, "only over https"},
		"both credentials":   {map[string]string{APIURLKey: "https://am", APITokenKey: "t", APIUsernameKey: "u", APIPasswordKey: "p"}, "not both"},
		"username alone":     {map[string]string{APIURLKey: "https://am", APIUsernameKey: "u"}, "go together"},
		"long token":         {map[string]string{APIURLKey: "https://am", APITokenKey: strings.Repeat("t", 5000)}, "longer than 4096"},
		"ca not pem":         {map[string]string{APIURLKey: "https://am", APICAKey: "nope"}, "no PEM certificate"},
		"ca too large":       {map[string]string{APIURLKey: "https://am", APICAKey: strings.Repeat("x", 70000)}, "more than 65536"},
		"not a duration":     {map[string]string{APIURLKey: "https://am", APIDurationsKey: "1h,soon"}, `"soon" is not a duration`},
		"too short":          {map[string]string{APIURLKey: "https://am", APIDurationsKey: "30s"}, "outside 1m0s to 2160h0m0s"},
		"too long":           {map[string]string{APIURLKey: "https://am", APIDurationsKey: "100000h"}, "outside"},
		"too many":           {map[string]string{APIURLKey: "https://am", APIDurationsKey: "1h,2h,3h,4h,5h,6h,7h"}, "at most 6"},
		"buttons neither":    {map[string]string{APIURLKey: "https://am", APIButtonsKey: "yes"}, `"true" or "false"`},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			data := map[string][]byte{}
			for k, v := range tc.data {
				data[k] = []byte(v)
			}
			_, err := ParseAPIConfig(data)
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
			for _, secret := range []string{"t0ken", "p"} {
				if v := tc.data[APITokenKey] + tc.data[APIPasswordKey]; v == secret {
					g.Expect(err.Error()).NotTo(ContainSubstring("\"" + secret + "\""))
				}
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	g := NewWithT(t)
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 4 * time.Hour: "4h", 24 * time.Hour: "24h", 30 * time.Minute: "30m", 90 * time.Minute: "1h30m",
	} {
		g.Expect(formatDuration(d)).To(Equal(want))
	}
}

// TestLoadAPIConfigFollowsTheSecretScope: a Secret the manager's metadata cache does not hold
// (outside --secret-namespaces or --secret-label-selector) counts as none, even though a direct
// read would find it.
func TestLoadAPIConfigFollowsTheSecretScope(t *testing.T) {
	g := NewWithT(t)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: DefaultAPISecret},
		Data: map[string][]byte{APIURLKey: []byte("https://am")}}
	direct := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(secret).Build()
	empty := fake.NewClientBuilder().WithScheme(testScheme(t)).Build()
	ctx := context.Background()

	cfg, err := LoadAPIConfig(ctx, direct, direct, testNS, DefaultAPISecret)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.URL.Host).To(Equal("am"))
	_, err = LoadAPIConfig(ctx, empty, direct, testNS, DefaultAPISecret)
	g.Expect(err).To(MatchError(ErrNoAPIConfig))
	_, err = LoadAPIConfig(ctx, nil, empty, testNS, DefaultAPISecret)
	g.Expect(err).To(MatchError(ErrNoAPIConfig))

	secret.Data[APIURLKey] = []byte("ftp://am")
	bad := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(secret).Build()
	_, err = LoadAPIConfig(ctx, nil, bad, testNS, DefaultAPISecret)
	g.Expect(isConfigError(err)).To(BeTrue())
	g.Expect(err).To(MatchError(ContainSubstring("the Secret alerts/alertmanager-api: key \"url\"")))
}
