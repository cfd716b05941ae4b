package graph

import (
	"context"
	"fmt"
	"net/http"

	"github.com/teams-operator/teams-operator/internal/msapi"
)

// MaxCheckMemberGroups is the most group ids one checkMemberGroups call takes
// (https://learn.microsoft.com/graph/api/user-checkmembergroups).
const MaxCheckMemberGroups = 20

// MemberChecker checks a user's group memberships. *Client implements it; it is not part of
// Interface, so the controllers' fakes need not.
type MemberChecker interface {
	// CheckMemberGroups returns which of groupIDs the user is a member of, directly or through
	// nested groups. It needs the application permissions User.Read.All and GroupMember.Read.All
	// (or Group.Read.All), or Directory.Read.All.
	CheckMemberGroups(ctx context.Context, userID string, groupIDs []string) ([]string, error)
}

var _ MemberChecker = (*Client)(nil)

// CheckMemberGroups implements MemberChecker: POST /users/{id}/checkMemberGroups.
func (c *Client) CheckMemberGroups(ctx context.Context, userID string, groupIDs []string) ([]string, error) {
	if len(groupIDs) == 0 || len(groupIDs) > MaxCheckMemberGroups {
		return nil, fmt.Errorf("checkMemberGroups takes 1 to %d group ids, not %d: %w",
			MaxCheckMemberGroups, len(groupIDs), msapi.ErrInvalidArgument)
	}
	user, err := userSegment(userID)
	if err != nil {
		return nil, err
	}
	in := map[string][]string{"groupIds": groupIDs}
	var out struct {
		Value []string `json:"value"`
	}
	if err := c.do(ctx, "checkMemberGroups", http.MethodPost, c.base+"/"+user+"/checkMemberGroups", in, &out); err != nil {
		return nil, err
	}
	return out.Value, nil
}
