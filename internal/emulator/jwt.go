package emulator

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is a SHA-1 thumbprint by definition (RFC 7515)
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
)

// signer holds the emulator's token-signing key. It is generated once per process: RSA key
// generation is slow, and tests start many emulators.
type signer struct {
	key *rsa.PrivateKey
	kid string
}

var (
	processSigner     *signer
	processSignerErr  error
	processSignerOnce sync.Once
)

func getSigner() (*signer, error) {
	processSignerOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			processSignerErr = fmt.Errorf("generating token signing key: %w", err)
			return
		}
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			processSignerErr = fmt.Errorf("encoding token signing key: %w", err)
			return
		}
		sum := sha256.Sum256(der)
		processSigner = &signer{key: k, kid: base64.RawURLEncoding.EncodeToString(sum[:15])}
	})
	return processSigner, processSignerErr
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// sign returns an RS256 JWT.
func (s *signer) sign(claims any) (string, error) {
	h, err := json.Marshal(map[string]string{"typ": "JWT", "alg": algRS256, "kid": s.kid})
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64(h) + "." + b64(c)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

// jwk is the public key in JWKS form.
func (s *signer) jwk() map[string]any {
	pub := s.key.PublicKey
	return map[string]any{
		"kty": "RSA", "use": "sig", "alg": algRS256, "kid": s.kid,
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}
}

// jwtParts is a decoded, not yet verified, compact JWT.
type jwtParts struct {
	header    map[string]any
	claims    map[string]any
	rawClaims []byte
	input     string
	sig       []byte
}

var errMalformedJWT = errors.New("malformed JWT")

func parseJWT(tok string) (*jwtParts, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errMalformedJWT
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, errMalformedJWT
	}
	cb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errMalformedJWT
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, errMalformedJWT
	}
	p := &jwtParts{rawClaims: cb, input: parts[0] + "." + parts[1], sig: sig}
	if json.Unmarshal(hb, &p.header) != nil || json.Unmarshal(cb, &p.claims) != nil {
		return nil, errMalformedJWT
	}
	return p, nil
}

func (p *jwtParts) str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// num reads a NumericDate claim.
func (p *jwtParts) num(k string) (int64, bool) {
	f, ok := p.claims[k].(float64)
	return int64(f), ok
}

// audiences returns aud as a list (a string or an array of strings).
func (p *jwtParts) audiences() []string {
	switch v := p.claims["aud"].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, a := range v {
			if s, ok := a.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// verifyRSA checks an RS256 or PS256 signature.
func (p *jwtParts) verifyRSA(pub *rsa.PublicKey) error {
	sum := sha256.Sum256([]byte(p.input))
	switch alg := p.str(p.header, "alg"); alg {
	case algRS256:
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], p.sig)
	case "PS256":
		return rsa.VerifyPSS(pub, crypto.SHA256, sum[:], p.sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	default:
		return fmt.Errorf("unsupported alg %q", alg)
	}
}

// certThumbprints are a certificate's x5t and x5t#S256 header values (base64url).
func certThumbprints(c *x509.Certificate) (x5t, x5tS256 string) {
	s1 := sha1.Sum(c.Raw) //nolint:gosec // see import
	s256 := sha256.Sum256(c.Raw)
	return b64(s1[:]), b64(s256[:])
}

// sameThumbprint compares a thumbprint header with the expected base64url value. MSAL sends
// padded standard base64, the RFC base64url: accept both, as Entra does.
func sameThumbprint(header, want string) bool {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(header); err == nil {
			return b64(b) == want
		}
	}
	return false
}
