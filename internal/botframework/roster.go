package botframework

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// TeamsChannelAccount is a member of a Teams conversation's roster
// (https://learn.microsoft.com/microsoftteams/platform/bots/how-to/get-teams-context).
type TeamsChannelAccount struct {
	// ID is the user's 29: id for this bot.
	ID                string `json:"id"`
	Name              string `json:"name,omitempty"`
	AADObjectID       string `json:"aadObjectId,omitempty"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	// UserRole is user or guest (anonymous for meeting guests).
	UserRole string `json:"userRole,omitempty"`
	TenantID string `json:"tenantId,omitempty"`
}

// PagedMembers is one page of a roster; ContinuationToken is empty on the last.
type PagedMembers struct {
	ContinuationToken string                `json:"continuationToken,omitempty"`
	Members           []TeamsChannelAccount `json:"members"`
}

// RosterReader pages a team's or group chat's roster. *Client implements it; it is kept apart
// from Interface so that fakes of Interface need not know about it.
type RosterReader interface {
	// GetPagedMembers returns one page of the conversation's roster: GET
	// /v3/conversations/{id}/pagedmembers. Teams treats a pageSize below 50 as 50 and above
	// 500 as 500.
	GetPagedMembers(ctx context.Context, serviceURL, conversationID string, pageSize int, continuationToken string) (PagedMembers, error)
}

var _ RosterReader = (*Client)(nil)

// GetPagedMembers implements RosterReader.
func (c *Client) GetPagedMembers(ctx context.Context, serviceURL, conversationID string, pageSize int,
	continuationToken string) (PagedMembers, error) {
	conv, err := segment("conversation id", conversationID)
	if err != nil {
		return PagedMembers{}, err
	}
	q := url.Values{}
	if pageSize > 0 {
		q.Set("pageSize", strconv.Itoa(pageSize))
	}
	if continuationToken != "" {
		q.Set("continuationToken", continuationToken)
	}
	path := "/v3/conversations/" + conv + "/pagedmembers"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out PagedMembers
	// Not the conversation limiter of sends: reads have limits of their own (twice as high).
	_, err = c.do(ctx, call{op: "getPagedMembers", method: http.MethodGet, serviceURL: serviceURL, path: path}, &out)
	return out, err
}
