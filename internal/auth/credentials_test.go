package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestFromSecretData(t *testing.T) {
	certPEM, keyPEM, _ := testCertificate(t)
	_, otherKeyPEM, _ := testCertificate(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})

	base := func(extra ...string) map[string][]byte {
		d := map[string][]byte{"tenantId": []byte(testTenant), "clientId": []byte(testClient)}
		for i := 0; i+1 < len(extra); i += 2 {
			d[extra[i]] = []byte(extra[i+1])
		}
		return d
	}
	withCert := func(crt, key []byte) map[string][]byte {
		d := base()
		if crt != nil {
			d["tls.crt"] = crt
		}
		if key != nil {
			d["tls.key"] = key
		}
		return d
	}
	plusSecret := func(d map[string][]byte) map[string][]byte {
		d["clientSecret"] = []byte(testSecret)
		return d
	}

	tests := map[string]struct {
		data      map[string][]byte
		tokenFile string
		want      Credentials
		wantErr   string
		wantKey   string
	}{
		"client secret, trailing newlines trimmed": {
			data: map[string][]byte{"tenantId": []byte(testTenant + "\n"), "clientId": []byte(testClient), "clientSecret": []byte(testSecret + "\n")},
			want: Credentials{TenantID: testTenant, ClientID: testClient, ClientSecret: testSecret, BotTokenTenant: testTenant},
		},
		"legacy multi-tenant bot": {
			data: base("clientSecret", testSecret, "botTokenTenant", "botframework.com"),
			want: Credentials{TenantID: testTenant, ClientID: testClient, ClientSecret: testSecret, BotTokenTenant: "botframework.com"},
		},
		"certificate": {
			data: withCert(certPEM, keyPEM),
			want: Credentials{TenantID: testTenant, ClientID: testClient, CertificatePEM: certPEM, KeyPEM: keyPEM, BotTokenTenant: testTenant},
		},
		"workload identity": {
			data: base(), tokenFile: "/var/run/secrets/azure/tokens/azure-identity-token",
			want: Credentials{TenantID: testTenant, ClientID: testClient, BotTokenTenant: testTenant,
				FederatedTokenFile: "/var/run/secrets/azure/tokens/azure-identity-token"},
		},
		"a secret wins over an available token file": {
			data: base("clientSecret", testSecret), tokenFile: "/token",
			want: Credentials{TenantID: testTenant, ClientID: testClient, ClientSecret: testSecret, BotTokenTenant: testTenant},
		},
		"no tenant": {
			data: map[string][]byte{"clientId": []byte(testClient), "clientSecret": []byte(testSecret)}, wantKey: "tenantId",
			wantErr: `credentials Secret has no "tenantId" key`,
		},
		"no client id": {
			data: map[string][]byte{"tenantId": []byte(testTenant), "clientSecret": []byte(testSecret)}, wantKey: "clientId",
			wantErr: `credentials Secret has no "clientId" key`,
		},
		"empty client id": {
			data: base("clientId", " \n", "clientSecret", testSecret), wantKey: "clientId",
			wantErr: `credentials Secret key "clientId" is empty`,
		},
		"tenant with a slash": {
			data: base("tenantId", "evil/../x", "clientSecret", testSecret), wantKey: "tenantId",
			wantErr: `"tenantId" is not a tenant id or domain (letters, digits, '.' and '-' only)`,
		},
		"client id with spaces": {
			data: base("clientId", "a b", "clientSecret", testSecret), wantKey: "clientId",
			wantErr: `"clientId" is not an application (client) id`,
		},
		"bad bot tenant": {
			data: base("clientSecret", testSecret, "botTokenTenant", "https://x"), wantKey: "botTokenTenant",
			wantErr: `"botTokenTenant" is not a tenant id or domain (letters, digits, '.' and '-' only)`,
		},
		"empty secret": {
			data: base("clientSecret", ""), wantKey: "clientSecret",
			wantErr: `credentials Secret key "clientSecret" is empty`,
		},
		"secret and certificate": {
			data:    plusSecret(withCert(certPEM, keyPEM)),
			wantKey: "clientSecret", wantErr: `both "clientSecret" and "tls.crt" are set; use one`,
		},
		"secret and key": {
			data:    plusSecret(withCert(nil, keyPEM)),
			wantKey: "clientSecret", wantErr: `both "clientSecret" and "tls.key" are set; use one`,
		},
		"nothing at all": {
			data: base(), wantKey: "clientSecret",
			wantErr: `credentials Secret has neither "clientSecret" nor "tls.crt" and "tls.key", and AZURE_FEDERATED_TOKEN_FILE is not set for workload identity`,
		},
		"certificate without key": {
			data: withCert(certPEM, nil), wantKey: "tls.key", wantErr: `credentials Secret has "tls.crt" but no "tls.key" key`,
		},
		"key without certificate": {
			data: withCert(nil, keyPEM), wantKey: "tls.crt", wantErr: `credentials Secret has "tls.key" but no "tls.crt" key`,
		},
		"certificate not PEM": {
			data: withCert([]byte(testSecret), keyPEM), wantKey: "tls.crt", wantErr: `"tls.crt" is not a PEM certificate`,
		},
		"certificate block that does not parse": {
			data:    withCert(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte(testSecret)}), keyPEM),
			wantKey: "tls.crt", wantErr: `"tls.crt" holds a certificate that cannot be parsed`,
		},
		"key not PEM": {
			data: withCert(certPEM, []byte(testSecret)), wantKey: "tls.key", wantErr: `"tls.key" is not a PEM private key`,
		},
		"EC key": {
			data: withCert(certPEM, ecPEM), wantKey: "tls.key", wantErr: `"tls.key" is not an RSA private key`,
		},
		"encrypted key": {
			data:    withCert(certPEM, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}})),
			wantKey: "tls.key", wantErr: `"tls.key" is encrypted; store it unencrypted`,
		},
		"key that does not parse": {
			data:    withCert(certPEM, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte(testSecret)})),
			wantKey: "tls.key", wantErr: `"tls.key" holds a private key that cannot be parsed`,
		},
		"key of another certificate": {
			data: withCert(certPEM, otherKeyPEM), wantKey: "tls.key", wantErr: `"tls.key" does not match the first certificate in "tls.crt"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := FromSecretData(tc.data, tc.tokenFile)
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(tc.wantErr))
				g.Expect(errors.Is(err, ErrInvalidCredentials)).To(BeTrue())
				var ce *CredentialsError
				g.Expect(errors.As(err, &ce)).To(BeTrue())
				g.Expect(ce.Key).To(Equal(tc.wantKey))
				g.Expect(err.Error()).NotTo(Or(ContainSubstring(testSecret), ContainSubstring("-----BEGIN")))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestCredentialsNeverPrintSecrets(t *testing.T) {
	g := NewWithT(t)
	certPEM, keyPEM, _ := testCertificate(t)
	for _, c := range []Credentials{
		secretCreds(),
		{TenantID: testTenant, ClientID: testClient, CertificatePEM: certPEM, KeyPEM: keyPEM, BotTokenTenant: testTenant},
	} {
		js, err := json.Marshal(c)
		g.Expect(err).NotTo(HaveOccurred())
		for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%v", &c),
			fmt.Sprint(c.MarshalLog()), string(js)} {
			g.Expect(s).To(ContainSubstring(testClient))
			g.Expect(s).NotTo(Or(ContainSubstring(testSecret), ContainSubstring("PRIVATE KEY"), ContainSubstring("CERTIFICATE")))
		}
	}
}

func TestFingerprint(t *testing.T) {
	g := NewWithT(t)
	a := secretCreds()
	g.Expect(a.Fingerprint()).To(Equal(secretCreds().Fingerprint()))
	g.Expect(a.Fingerprint()).To(HaveLen(64))
	g.Expect(a.Fingerprint()).NotTo(ContainSubstring(testSecret))

	seen := map[string]string{"base": a.Fingerprint()}
	for name, change := range map[string]func(*Credentials){
		"secret":      func(c *Credentials) { c.ClientSecret += "x" },
		"tenant":      func(c *Credentials) { c.TenantID = "other" },
		"client":      func(c *Credentials) { c.ClientID = "other" },
		"bot tenant":  func(c *Credentials) { c.BotTokenTenant = "botframework.com" },
		"token file":  func(c *Credentials) { c.FederatedTokenFile = "/f" },
		"certificate": func(c *Credentials) { c.CertificatePEM = []byte("c") },
		// Field boundaries matter: moving a character between fields changes it.
		"boundary": func(c *Credentials) {
			c.ClientID, c.ClientSecret = c.ClientID+c.ClientSecret[:1], c.ClientSecret[1:]
		},
	} {
		c := secretCreds()
		change(&c)
		fp := c.Fingerprint()
		for other, ofp := range seen {
			g.Expect(fp).NotTo(Equal(ofp), name+" vs "+other)
		}
		seen[name] = fp
	}
	g.Expect(strings.ContainsAny(a.Fingerprint(), "ghijklmnopqrstuvwxyz")).To(BeFalse(), "hex")
}
