package emulator

import (
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// BotFrameworkTenantID is the tenant id in tokens issued by the legacy botframework.com tenant.
const BotFrameworkTenantID = "d6d49420-f39b-4df7-a1dc-d59a935871db"

// botFrameworkTenant is the tenant segment for multi-tenant bot tokens.
const botFrameworkTenant = "botframework.com"

func key(s string) string { return strings.ToLower(s) }

var (
	personalPad = sha256.Sum256([]byte("teams-emulator/personal-conversation"))
	pairwisePad = sha256.Sum256([]byte("teams-emulator/pairwise-user-id"))
)

// encodePair builds an opaque but reversible id from a bot app id and a user id: Teams ids are
// opaque to clients, and reversibility lets the emulator resolve them without remembering them,
// so the same (bot, user) always gets the same id, also across restarts.
func encodePair(prefix string, pad [32]byte, bot, user string) string {
	b, err := uuid.Parse(bot)
	if err != nil {
		return ""
	}
	u, err := uuid.Parse(user)
	if err != nil {
		return ""
	}
	var raw [32]byte
	copy(raw[:16], b[:])
	copy(raw[16:], u[:])
	for i := range raw {
		raw[i] ^= pad[i]
	}
	return prefix + base64.RawURLEncoding.EncodeToString(raw[:])
}

func decodePair(prefix string, pad [32]byte, id string) (bot, user string, ok bool) {
	rest, found := strings.CutPrefix(id, prefix)
	if !found {
		return "", "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(raw) != 32 {
		return "", "", false
	}
	for i := range raw {
		raw[i] ^= pad[i]
	}
	var b, u uuid.UUID
	copy(b[:], raw[:16])
	copy(u[:], raw[16:])
	return b.String(), u.String(), true
}

// PersonalConversationID is the Connector's a:… id of the 1:1 chat between a bot and a user.
func PersonalConversationID(botAppID, userID string) string {
	return encodePair("a:1", personalPad, botAppID, userID)
}

// PersonalChatID is Graph's id of the same chat: 19:{botAppId}_{userId}@unq.gbl.spaces
// (reference 1.3: the second GUID is the user).
func PersonalChatID(botAppID, userID string) string {
	return "19:" + key(botAppID) + "_" + key(userID) + "@unq.gbl.spaces"
}

// BotUserID is the derived bot-scoped 29:… id of a user (a seed may set another one).
func BotUserID(botAppID, userID string) string {
	return encodePair("29:1", pairwisePad, botAppID, userID)
}

var personalChatRE = regexp.MustCompile(
	`(?i)^19:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_` +
		`([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})@unq\.gbl\.spaces$`)

func parsePersonalChatID(id string) (bot, user string, ok bool) {
	m := personalChatRE.FindStringSubmatch(id)
	if m == nil {
		return "", "", false
	}
	return key(m[1]), key(m[2]), true
}

// installationID is base64("{scopeId}##{teamsAppId}") (reference 1.3: derived from the examples of
// https://learn.microsoft.com/graph/api/team-delete-installedapps).
func installationID(scopeID, teamsAppID string) string {
	return base64.StdEncoding.EncodeToString([]byte(scopeID + "##" + teamsAppID))
}

// parseInstallationID accepts the id with or without padding, std or URL alphabet.
func parseInstallationID(id string) (scopeID, teamsAppID string, ok bool) {
	trimmed := strings.TrimRight(id, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		raw, err := enc.DecodeString(trimmed)
		if err != nil {
			continue
		}
		s, a, found := strings.Cut(string(raw), "##")
		if found && s != "" && a != "" {
			return s, a, true
		}
	}
	return "", "", false
}

// definitionID is base64("{teamsAppId}##{version}") (reference 1.3).
func definitionID(teamsAppID, version string) string {
	return base64.StdEncoding.EncodeToString([]byte(teamsAppID + "##" + version))
}

// idClock hands out activity ids: epoch milliseconds, strictly increasing even when many
// messages arrive in the same millisecond.
type idClock struct{ last atomic.Int64 }

func (c *idClock) next(now time.Time) string {
	ms := now.UnixMilli()
	for {
		last := c.last.Load()
		n := max(ms, last+1)
		if c.last.CompareAndSwap(last, n) {
			return strconv.FormatInt(n, 10)
		}
	}
}
