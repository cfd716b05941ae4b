package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// The keys of the credentials Secret (DESIGN.md, "Names that others depend on").
const (
	KeyTenantID       = "tenantId"
	KeyClientID       = "clientId"
	KeyClientSecret   = "clientSecret"
	KeyCertificate    = "tls.crt"
	KeyPrivateKey     = "tls.key"
	KeyBotTokenTenant = "botTokenTenant"
)

// Credentials identify the bot's Entra app and how it proves itself: exactly one
// of ClientSecret, CertificatePEM+KeyPEM or FederatedTokenFile is set.
// Credentials never print their secrets (see String).
type Credentials struct {
	TenantID       string
	ClientID       string
	ClientSecret   string
	CertificatePEM []byte
	KeyPEM         []byte
	// BotTokenTenant is the tenant Bot Framework tokens come from: TenantID for a
	// single-tenant bot, the cloud's legacy tenant ("botframework.com") for a
	// multi-tenant one.
	BotTokenTenant string
	// FederatedTokenFile is the workload-identity token path (read on each exchange).
	FederatedTokenFile string
}

// Kind names how the credentials authenticate: "clientSecret", "certificate" or
// "workloadIdentity".
func (c Credentials) Kind() string {
	switch {
	case c.ClientSecret != "":
		return "clientSecret"
	case len(c.CertificatePEM) > 0:
		return "certificate"
	default:
		return "workloadIdentity"
	}
}

// String describes the credentials without their secrets, so a stray %v in a
// log or error cannot leak them.
func (c Credentials) String() string {
	return fmt.Sprintf("{tenantId: %s, clientId: %s, botTokenTenant: %s, kind: %s}",
		c.TenantID, c.ClientID, c.BotTokenTenant, c.Kind())
}

// GoString is String, for %#v.
func (c Credentials) GoString() string { return c.String() }

// MarshalLog is String, for logr sinks that would otherwise reflect over fields.
func (c Credentials) MarshalLog() any { return c.String() }

// MarshalJSON refuses to serialise secrets anywhere.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, "%q", c.String()), nil
}

// ErrInvalidCredentials is matched (errors.Is) by every error FromSecretData
// returns.
var ErrInvalidCredentials = errors.New("invalid credentials")

// CredentialsError names the Secret key that is missing or invalid; its message
// never contains a value from the Secret.
type CredentialsError struct {
	Key     string
	message string
}

func (e *CredentialsError) Error() string { return e.message }

// Is makes errors.Is(err, ErrInvalidCredentials) true.
func (e *CredentialsError) Is(target error) bool { return target == ErrInvalidCredentials }

func keyError(key, format string, args ...any) error {
	return &CredentialsError{Key: key, message: fmt.Sprintf(format, args...)}
}

// FromSecretData reads credentials from a Secret's data. federatedTokenFile is
// the value of AZURE_FEDERATED_TOKEN_FILE (empty when unset): it is used only when
// the Secret holds neither a client secret nor a certificate.
func FromSecretData(data map[string][]byte, federatedTokenFile string) (Credentials, error) {
	var c Credentials
	var err error
	if c.TenantID, err = tenantValue(data, KeyTenantID, true); err != nil {
		return Credentials{}, err
	}
	if c.ClientID, err = clientIDValue(data); err != nil {
		return Credentials{}, err
	}
	if c.BotTokenTenant, err = tenantValue(data, KeyBotTokenTenant, false); err != nil {
		return Credentials{}, err
	}
	if c.BotTokenTenant == "" {
		c.BotTokenTenant = c.TenantID
	}
	if err := c.readProof(data, federatedTokenFile); err != nil {
		return Credentials{}, err
	}
	return c, nil
}

// readProof reads the one way the app proves itself.
func (c *Credentials) readProof(data map[string][]byte, federatedTokenFile string) error {
	_, hasSecret := data[KeyClientSecret]
	_, hasCert := data[KeyCertificate]
	_, hasKey := data[KeyPrivateKey]
	switch {
	case hasSecret && (hasCert || hasKey):
		other := KeyCertificate
		if !hasCert {
			other = KeyPrivateKey
		}
		return keyError(KeyClientSecret, "both %q and %q are set; use one", KeyClientSecret, other)
	case hasSecret:
		c.ClientSecret = strings.TrimSpace(string(data[KeyClientSecret]))
		if c.ClientSecret == "" {
			return keyError(KeyClientSecret, "credentials Secret key %q is empty", KeyClientSecret)
		}
		return nil
	case hasCert || hasKey:
		return c.readCertificate(data, hasCert, hasKey)
	case federatedTokenFile != "":
		c.FederatedTokenFile = federatedTokenFile
		return nil
	default:
		return keyError(KeyClientSecret,
			"credentials Secret has neither %q nor %q and %q, and AZURE_FEDERATED_TOKEN_FILE is not set for workload identity",
			KeyClientSecret, KeyCertificate, KeyPrivateKey)
	}
}

func (c *Credentials) readCertificate(data map[string][]byte, hasCert, hasKey bool) error {
	switch {
	case !hasCert:
		return keyError(KeyCertificate, "credentials Secret has %q but no %q key", KeyPrivateKey, KeyCertificate)
	case !hasKey:
		return keyError(KeyPrivateKey, "credentials Secret has %q but no %q key", KeyCertificate, KeyPrivateKey)
	}
	cert, err := parseCertificate(data[KeyCertificate])
	if err != nil {
		return err
	}
	key, err := parseRSAKey(data[KeyPrivateKey])
	if err != nil {
		return err
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return keyError(KeyPrivateKey, "%q does not match the first certificate in %q", KeyPrivateKey, KeyCertificate)
	}
	c.CertificatePEM = data[KeyCertificate]
	c.KeyPEM = data[KeyPrivateKey]
	return nil
}

// parseCertificate returns the first certificate of a PEM bundle (the leaf, by
// the kubernetes.io/tls convention).
func parseCertificate(data []byte) (*x509.Certificate, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, keyError(KeyCertificate, "%q is not a PEM certificate", KeyCertificate)
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, keyError(KeyCertificate, "%q holds a certificate that cannot be parsed", KeyCertificate)
		}
		return cert, nil
	}
}

// parseRSAKey reads an unencrypted RSA key in PKCS #1 or PKCS #8 form: Entra
// accepts only RSA certificates for client assertions.
func parseRSAKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, keyError(KeyPrivateKey, "%q is not a PEM private key", KeyPrivateKey)
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, keyError(KeyPrivateKey, "%q is encrypted; store it unencrypted", KeyPrivateKey)
	default:
		return nil, keyError(KeyPrivateKey, "%q is not an RSA private key", KeyPrivateKey)
	}
	if err != nil {
		return nil, keyError(KeyPrivateKey, "%q holds a private key that cannot be parsed", KeyPrivateKey)
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, keyError(KeyPrivateKey, "%q is not an RSA private key", KeyPrivateKey)
	}
	return rsaKey, nil
}

// tenantValue reads a tenant id or domain: letters, digits, '.' and '-' (what
// azidentity accepts; it becomes a URL path segment).
func tenantValue(data map[string][]byte, key string, required bool) (string, error) {
	raw, ok := data[key]
	if !ok {
		if required {
			return "", keyError(key, "credentials Secret has no %q key", key)
		}
		return "", nil
	}
	v := strings.TrimSpace(string(raw))
	if v == "" {
		return "", keyError(key, "credentials Secret key %q is empty", key)
	}
	if !onlyChars(v, ".-") {
		return "", keyError(key, "%q is not a tenant id or domain (letters, digits, '.' and '-' only)", key)
	}
	return v, nil
}

func clientIDValue(data map[string][]byte) (string, error) {
	raw, ok := data[KeyClientID]
	if !ok {
		return "", keyError(KeyClientID, "credentials Secret has no %q key", KeyClientID)
	}
	v := strings.TrimSpace(string(raw))
	if v == "" {
		return "", keyError(KeyClientID, "credentials Secret key %q is empty", KeyClientID)
	}
	if !onlyChars(v, "-") {
		return "", keyError(KeyClientID, "%q is not an application (client) id", KeyClientID)
	}
	return v, nil
}

func onlyChars(s, extra string) bool {
	for _, r := range s {
		alnum := ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')
		if !alnum && !strings.ContainsRune(extra, r) {
			return false
		}
	}
	return true
}

// fingerprintKey makes fingerprints a keyed hash: stable for the life of the
// process (which is all a cache key needs) and useless for guessing a weak secret
// offline, since the key never leaves memory.
var fingerprintKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails on supported platforms
	return k
}()

// Fingerprint identifies the credentials' contents for cache keys: two values
// with the same contents have the same fingerprint, a rotated Secret gets a new
// one. It cannot be turned back into the secret.
func (c Credentials) Fingerprint() string {
	h := hmac.New(sha256.New, fingerprintKey)
	for _, field := range [][]byte{
		[]byte(c.TenantID), []byte(c.ClientID), []byte(c.ClientSecret), c.CertificatePEM, c.KeyPEM,
		[]byte(c.BotTokenTenant), []byte(c.FederatedTokenFile),
	} {
		// Length prefixes keep ("ab","c") and ("a","bc") apart.
		_ = binary.Write(h, binary.BigEndian, uint64(len(field)))
		h.Write(field)
	}
	return hex.EncodeToString(h.Sum(nil))
}
