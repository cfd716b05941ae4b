package emulator

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The emulator plays the Bot Connector towards a bot's messaging endpoint: it publishes OpenID
// metadata and signing keys as login.botframework.com does, and signs each activity it posts
// with a JWT as "Authenticate requests from the Bot Connector service to your bot" describes
// (https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication):
// iss = the cloud's Bot Framework issuer, aud = the bot's app id, a serviceurl claim equal to
// the activity's serviceUrl, RS256, and a key whose endorsements name the channel (msteams).

// BotOpenIDMetadataPath is the path of the Bot Connector's OpenID metadata on the emulator
// (the operator's --bot-openid-metadata-url is {emulator URL}{BotOpenIDMetadataPath}).
const BotOpenIDMetadataPath = "/v1/.well-known/openidconfiguration"

const (
	botKeysPath = "/v1/.well-known/keys"
	// channelMSTeams is the Teams channel id, and the endorsement of the emulator's key.
	channelMSTeams = "msteams"
	// botTokenLifetime is the lifetime of the Connector's tokens to bots (one hour, as Entra's).
	botTokenLifetime = time.Hour
)

var (
	connectorSigner     *signer
	connectorSignerErr  error
	connectorSignerOnce sync.Once
)

// getConnectorSigner is the Connector's own key (not the Entra key): a bot must not accept an
// Entra token as a Connector token.
func getConnectorSigner() (*signer, error) {
	connectorSignerOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			connectorSignerErr = fmt.Errorf("generating the Connector signing key: %w", err)
			return
		}
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			connectorSignerErr = err
			return
		}
		sum := sha256.Sum256(der)
		connectorSigner = &signer{key: k, kid: "bf-" + b64(sum[:12])}
	})
	return connectorSigner, connectorSignerErr
}

// BotTokenIssuer is the issuer of the Connector's tokens to bots in a cloud.
func BotTokenIssuer(cloudName string) string {
	switch strings.ToLower(cloudName) {
	case "usgovgcchigh", "usgovdod":
		return "https://api.botframework.us"
	case "china":
		return "https://api.botframework.azure.cn"
	}
	return "https://api.botframework.com"
}

func (e *Emulator) botAuthRoutes() {
	e.handle("GET "+BotOpenIDMetadataPath, apiEntra, op("botOpenIDConfiguration"), e.handleBotOpenIDConfig)
	e.handle("GET "+botKeysPath, apiEntra, op("botKeys"), e.handleBotKeys)
}

func (e *Emulator) handleBotOpenIDConfig(w http.ResponseWriter, r *http.Request) {
	b := baseURL(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                BotTokenIssuer(e.opts.Cloud),
		"authorization_endpoint":                "https://invalid.botframework.com",
		"jwks_uri":                              b + botKeysPath,
		"id_token_signing_alg_values_supported": []string{algRS256},
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
	})
}

func (e *Emulator) handleBotKeys(w http.ResponseWriter, _ *http.Request) {
	s, err := getConnectorSigner()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	k := s.jwk()
	k["endorsements"] = []string{channelMSTeams}
	writeJSON(w, http.StatusOK, map[string]any{"keys": []any{k}})
}

// signForBot returns the bearer token the Connector sends with an activity to bot appID.
func (e *Emulator) signForBot(appID, serviceURL string) (string, error) {
	s, err := getConnectorSigner()
	if err != nil {
		return "", err
	}
	now := e.now()
	return s.sign(map[string]any{
		"iss": BotTokenIssuer(e.opts.Cloud), "aud": appID, "serviceurl": serviceURL,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(botTokenLifetime).Unix(),
	})
}
