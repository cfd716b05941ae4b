package emulator_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	. "github.com/onsi/gomega"

	"github.com/teams-operator/teams-operator/internal/emulator"
)

// TestAzidentityCredentials checks that the Azure SDK's credentials (MSAL underneath, with
// instance discovery off, as the operator uses them) get tokens from the emulator: secret,
// certificate and workload identity federation.
func TestAzidentityCredentials(t *testing.T) {
	g := NewWithT(t)
	e, err := emulator.New(nil, emulator.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	srv, err := e.StartTLS("127.0.0.1:0", "")
	g.Expect(err).NotTo(HaveOccurred())
	client := srv.Client()
	t.Cleanup(func() {
		client.CloseIdleConnections()
		_ = srv.Close()
	})
	co := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: srv.URL + "/"}, Transport: client}

	certs, key, err := azidentity.ParseCertificates([]byte(emulator.DefaultBotCertificatePEM+emulator.DefaultBotPrivateKeyPEM), nil)
	g.Expect(err).NotTo(HaveOccurred())
	fedToken := unsignedJWT(t, map[string]any{
		"iss": emulator.DefaultFederatedIssuer, "sub": emulator.DefaultFederatedSubject,
		"aud": []string{"api://AzureADTokenExchange"}, "exp": time.Now().Add(time.Hour).Unix(),
	})

	creds := map[string]func() (azcore.TokenCredential, error){
		"client secret": func() (azcore.TokenCredential, error) {
			return azidentity.NewClientSecretCredential(emulator.DefaultTenantID, emulator.DefaultBotAppID, emulator.DefaultBotSecret,
				&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
		},
		"certificate": func() (azcore.TokenCredential, error) {
			return azidentity.NewClientCertificateCredential(emulator.DefaultTenantID, emulator.DefaultBotAppID, certs, key,
				&azidentity.ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
		},
		"certificate with x5c": func() (azcore.TokenCredential, error) {
			return azidentity.NewClientCertificateCredential(emulator.DefaultTenantID, emulator.DefaultBotAppID, certs, key,
				&azidentity.ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, SendCertificateChain: true})
		},
		"workload identity": func() (azcore.TokenCredential, error) {
			return azidentity.NewClientAssertionCredential(emulator.DefaultTenantID, emulator.DefaultBotAppID,
				func(context.Context) (string, error) { return fedToken, nil },
				&azidentity.ClientAssertionCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
		},
	}
	for name, mk := range creds {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			cred, err := mk()
			g.Expect(err).NotTo(HaveOccurred())
			for _, scope := range []string{"https://graph.microsoft.com/.default", "https://api.botframework.com/.default"} {
				tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{scope}})
				g.Expect(err).NotTo(HaveOccurred(), scope)
				g.Expect(tok.Token).NotTo(BeEmpty())
				g.Expect(tok.ExpiresOn).To(BeTemporally("~", time.Now().Add(3599*time.Second), time.Minute))
			}
		})
	}

	t.Run("bad secret surfaces the AADSTS error", func(t *testing.T) {
		g := NewWithT(t)
		cred, err := azidentity.NewClientSecretCredential(emulator.DefaultTenantID, emulator.DefaultBotAppID, "wrong",
			&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
		g.Expect(err).NotTo(HaveOccurred())
		_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
		g.Expect(err).To(MatchError(ContainSubstring("AADSTS7000215")))
	})
}

func unsignedJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	// The emulator cannot verify a cluster's signature, so any signature will do.
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "cluster"}) + "." + enc(claims) + "." +
		base64.RawURLEncoding.EncodeToString([]byte("signature-from-the-cluster"))
}
