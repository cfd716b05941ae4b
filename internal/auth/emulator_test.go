package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/teams-operator/teams-operator/internal/auth"
	"github.com/teams-operator/teams-operator/internal/cloud"
	"github.com/teams-operator/teams-operator/internal/emulator"
	"github.com/teams-operator/teams-operator/internal/transport"
)

// These tests run token acquisition against the project's Entra emulator, which
// checks assertions and mints audience-bound tokens like the real service.

func startEmulator(t *testing.T) (*emulator.Emulator, *emulator.Server, auth.Options) {
	t.Helper()
	g := NewWithT(t)
	e, err := emulator.New(emulator.DefaultSeed(), emulator.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	srv, err := e.StartTLS("127.0.0.1:0", "")
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = srv.Close() })
	endpoints, err := cloud.Lookup(cloud.Public)
	g.Expect(err).NotTo(HaveOccurred())
	endpoints, err = endpoints.WithOverrides(srv.URL, srv.URL, srv.URL+"/teams/")
	g.Expect(err).NotTo(HaveOccurred())
	client := transport.New(transport.Options{ExtraRootCAs: srv.RootCAs})
	return e, srv, auth.Options{Endpoints: endpoints, HTTPClient: client}
}

func TestEmulatorTokens(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	fed := unsignedJWT(map[string]any{
		"iss": emulator.DefaultFederatedIssuer, "sub": emulator.DefaultFederatedSubject,
		"aud": []string{"api://AzureADTokenExchange"}, "exp": time.Now().Add(time.Hour).Unix(),
	})
	if err := os.WriteFile(tokenFile, []byte(fed), 0o600); err != nil {
		t.Fatal(err)
	}
	ids := map[string][]byte{"tenantId": []byte(emulator.DefaultTenantID), "clientId": []byte(emulator.DefaultBotAppID)}
	with := func(k, v string) map[string][]byte {
		d := map[string][]byte{k: []byte(v)}
		maps.Copy(d, ids)
		return d
	}
	cert := with("tls.crt", emulator.DefaultBotCertificatePEM)
	cert["tls.key"] = []byte(emulator.DefaultBotPrivateKeyPEM)
	secrets := map[string]map[string][]byte{
		"client secret":     with("clientSecret", emulator.DefaultBotSecret),
		"certificate":       cert,
		"workload identity": ids,
	}
	for name, data := range secrets {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			e, srv, opts := startEmulator(t)
			creds, err := auth.FromSecretData(data, tokenFile)
			g.Expect(err).NotTo(HaveOccurred())
			tokens, err := auth.NewCache(opts).Get(creds)
			g.Expect(err).NotTo(HaveOccurred())

			graphTok, err := tokens.Graph.Token(context.Background())
			g.Expect(err).NotTo(HaveOccurred())
			botTok, err := tokens.Bot.Token(context.Background())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(claims(g, graphTok)).To(HaveKeyWithValue("aud", "https://graph.microsoft.com"))
			g.Expect(claims(g, botTok)).To(HaveKeyWithValue("aud", "https://api.botframework.com"))
			g.Expect(claims(g, graphTok)).To(HaveKeyWithValue("appid", emulator.DefaultBotAppID))

			// The Graph token works on Graph; the Bot token is refused there.
			g.Expect(getUser(g, opts, graphTok)).To(Equal(http.StatusOK))
			g.Expect(getUser(g, opts, botTok)).To(Equal(http.StatusUnauthorized))

			// Cached: asking again makes no request.
			_, err = tokens.Graph.Token(context.Background())
			g.Expect(err).NotTo(HaveOccurred())

			var paths []string
			for _, r := range e.Requests() {
				if r.API == "entra" {
					paths = append(paths, r.Method+" "+strings.SplitN(r.Path, "?", 2)[0])
				}
			}
			g.Expect(paths).To(Equal([]string{
				"GET /" + emulator.DefaultTenantID + "/v2.0/.well-known/openid-configuration",
				"POST /" + emulator.DefaultTenantID + "/oauth2/v2.0/token",
				"POST /" + emulator.DefaultTenantID + "/oauth2/v2.0/token",
			}), "discovery once per tenant, one token per scope, no instance discovery")
			g.Expect(srv.URL).To(HavePrefix("https://127.0.0.1:"))
		})
	}
}

func TestEmulatorRejectsAWrongSecretWithoutLeakingIt(t *testing.T) {
	g := NewWithT(t)
	_, _, opts := startEmulator(t)
	creds := auth.Credentials{TenantID: emulator.DefaultTenantID, ClientID: emulator.DefaultBotAppID,
		ClientSecret: "wrong-secret-value", BotTokenTenant: emulator.DefaultTenantID}
	tokens, err := auth.New(creds, opts)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = tokens.Graph.Token(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring("acquiring token for tenant " + emulator.DefaultTenantID + ": invalid_client (AADSTS7000215)")))
	g.Expect(errors.Is(err, auth.ErrTokenRejected)).To(BeTrue())
	g.Expect(err.Error()).NotTo(Or(ContainSubstring("wrong-secret-value"), ContainSubstring("Trace ID"), ContainSubstring("Correlation")))
}

func getUser(g Gomega, opts auth.Options, token string) int {
	ctx := transport.WithOperation(context.Background(), "graph", "getUser")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		opts.Endpoints.GraphEndpoint+"/v1.0/users/"+emulator.DefaultUserAdeleID, nil)
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := opts.HTTPClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	_, _ = transport.ReadBody(resp, 0)
	return resp.StatusCode
}

func claims(g Gomega, jwt string) map[string]any {
	parts := strings.Split(jwt, ".")
	g.Expect(parts).To(HaveLen(3))
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	g.Expect(err).NotTo(HaveOccurred())
	var c map[string]any
	g.Expect(json.Unmarshal(data, &c)).To(Succeed())
	return c
}

// unsignedJWT stands in for a projected service-account token; the emulator
// cannot check a cluster's signature.
func unsignedJWT(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims) + "." +
		base64.RawURLEncoding.EncodeToString([]byte("signature"))
}
