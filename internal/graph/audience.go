package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// AudienceReader reads the people of a broadcast audience. *Client implements it; it is kept
// apart from Interface so that fakes of Interface need not know about it.
type AudienceReader interface {
	// ListGroupUsers returns the users among a group's transitive members (nested groups
	// flattened), following @odata.nextLink, at most maxUsers (more is ErrTooMany). It needs
	// GroupMember.Read.All (https://learn.microsoft.com/graph/api/group-list-transitivemembers).
	ListGroupUsers(ctx context.Context, groupID string, maxUsers int) ([]User, error)
}

var _ AudienceReader = (*Client)(nil)

// selectParam is OData's $select.
const selectParam = "$select"

// audiencePage is Graph's largest page for directory collections ($top 999; default 100).
const audiencePage = "999"

// ErrTooMany: a collection has more objects than the caller's bound.
var ErrTooMany = errors.New("more objects than allowed")

// ListGroupUsers implements AudienceReader.
func (c *Client) ListGroupUsers(ctx context.Context, groupID string, maxUsers int) ([]User, error) {
	group, err := segment("group id", groupID)
	if err != nil {
		return nil, err
	}
	next := c.base + "/groups/" + group + "/transitiveMembers/microsoft.graph.user?" +
		query([2]string{selectParam, "id,userPrincipalName"}, [2]string{"$top", audiencePage})
	var all []User
	for next != "" {
		var p page[User]
		if err := c.do(ctx, "listTransitiveUsers", http.MethodGet, next, nil, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Value...)
		if len(all) > maxUsers {
			return nil, fmt.Errorf("group %s: %w (%d)", groupID, ErrTooMany, maxUsers)
		}
		if p.NextLink != "" {
			if err := c.checkNextLink(p.NextLink); err != nil {
				return nil, err
			}
		}
		next = p.NextLink
	}
	return all, nil
}
