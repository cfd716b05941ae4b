package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Channel membership types, as Graph's channel resource names them
// (https://learn.microsoft.com/graph/api/resources/channel, membershipType).
const (
	ChannelStandard = "standard"
	ChannelPrivate  = "private"
	ChannelShared   = "shared"
)

// channelType checks a seeded channel's membership type and enabled apps.
func (c *shapeChecker) channelType(t *TenantSeed, teamID string, ch ChannelSeed) {
	mt := strings.ToLower(ch.MembershipType)
	if mt != "" && mt != ChannelStandard && mt != ChannelPrivate && mt != ChannelShared {
		c.add("tenant %s: team %s: channel %s: membershipType %q is not standard, private or shared",
			t.ID, teamID, ch.ID, ch.MembershipType)
	}
	if len(ch.EnabledApps) > 0 && (mt == "" || mt == ChannelStandard) {
		c.add("tenant %s: team %s: channel %s: enabledApps is for private and shared channels", t.ID, teamID, ch.ID)
	}
	for _, a := range ch.EnabledApps {
		if !slices.ContainsFunc(t.Catalog, func(app CatalogAppSeed) bool { return strings.EqualFold(app.ID, a) }) {
			c.add("tenant %s: team %s: channel %s: enabled app %s is not in the catalog", t.ID, teamID, ch.ID, a)
		}
	}
}

// channelAllows reports whether the bot may post in the channel, given that its app is in the
// team. A standard channel takes every bot of the team. A private or shared channel takes only a
// bot whose app was added to that channel ("Apps for shared and private channels":
// https://learn.microsoft.com/microsoftteams/platform/build-apps-for-shared-private-channels;
// Graph's channel enabledApps: https://learn.microsoft.com/graph/api/channel-list-enabledapps).
// Microsoft's bot conversation page says instead that bots cannot post in private channels at
// all (https://learn.microsoft.com/microsoftteams/platform/concepts/bots/bot-conversations/bots-conv-channel);
// the emulator follows the newer apps page, and the operator works either way. Caller holds mu.
func (t *tenant) channelAllows(c *channel, botID string) bool {
	if c.membershipType == ChannelStandard {
		return true
	}
	for id := range c.enabled {
		if app := t.catalog[id]; app != nil && strings.EqualFold(app.BotID, botID) {
			return true
		}
	}
	return false
}

// permChannelApps: the application permissions of "List apps in a channel"
// (https://learn.microsoft.com/graph/api/channel-list-enabledapps); the "Self" permissions
// are not among them.
var permChannelApps = perm{anyOf: []string{"TeamsAppInstallation.ReadForTeam.All",
	"TeamsAppInstallation.ReadWriteForTeam.All", "TeamsAppInstallation.ManageSelectedForTeam.All",
	"TeamsAppInstallation.Read.All"}}

// listEnabledApps answers GET /teams/{team}/channels/{channel}/enabledApps with the apps added to
// the channel. What Graph answers for a standard channel is undocumented: an empty list here.
func (e *Emulator) listEnabledApps(w http.ResponseWriter, r *http.Request, g *graphCall) {
	d := e.world().dir
	d.mu.RLock()
	defer d.mu.RUnlock()
	if g.grantFor(d, permChannelApps) == grantNone {
		e.forbidden(w, r)
		return
	}
	tm, ok := e.teamFor(w, r, g, d)
	if !ok {
		return
	}
	c := d.channels[key(r.PathValue("channel"))]
	if c == nil || c.team != tm {
		e.notFound(w, r, "NotFound", fmt.Sprintf("Channel '%s' was not found in the team.", r.PathValue("channel")))
		return
	}
	t := d.tenants[key(tm.tenantID)]
	out := make([]map[string]any, 0, len(c.enabled))
	for id := range c.enabled {
		if app := t.catalog[id]; app != nil {
			out = append(out, catalogJSON(app, false, false))
		}
	}
	slices.SortFunc(out, func(a, b map[string]any) int { return strings.Compare(a["id"].(string), b["id"].(string)) })
	writeJSON(w, http.StatusOK, map[string]any{
		odataContext: g.base + "/$metadata#teams('" + tm.id + "')/channels('" + c.id + "')/enabledApps",
		odataValue:   out,
	})
}

// EnableAppInChannel adds (or removes) a catalog app to a private or shared channel, as a
// channel owner would in Teams.
func (e *Emulator) EnableAppInChannel(channelID, teamsAppID string, enabled bool) error {
	d := e.world().dir
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.channels[key(channelID)]
	if c == nil {
		return fmt.Errorf("channel %s not found", channelID)
	}
	if c.membershipType == ChannelStandard {
		return fmt.Errorf("channel %s is a standard channel: apps are added to its team", channelID)
	}
	if d.tenants[key(c.team.tenantID)].catalog[key(teamsAppID)] == nil {
		return fmt.Errorf("app %s is not in the catalog of tenant %s", teamsAppID, c.team.tenantID)
	}
	if enabled {
		c.enabled[key(teamsAppID)] = true
	} else {
		delete(c.enabled, key(teamsAppID))
	}
	return nil
}
