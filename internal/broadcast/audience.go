package broadcast

import (
	"context"
	"errors"
	"fmt"
	"strings"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/graph"
	"github.com/teams-operator/teams-operator/internal/msapi"
)

// Per-person reasons (docs/broadcast.md). Skips are expected and never retried; failures are
// what Teams refused for another reason.
const (
	ReasonBlockedByUser   = "BlockedByUser"
	ReasonBotNotInstalled = "BotNotInstalled"
	ReasonUserNotFound    = "UserNotFound"
	ReasonOptedOut        = "OptedOut"
	ReasonInstallFailed   = "InstallFailed"
	ReasonOutcomeUnknown  = "DeliveryUnknown"
	ReasonExpired         = "Expired"
	ReasonCancelled       = "Cancelled"
)

// rosterPageSize is the Connector's largest roster page.
const rosterPageSize = 500

// maxRosterPages bounds the pages of one read (1,000,000 people at 500 a page, and some).
const maxRosterPages = 2100

// ErrTooLarge: the audience has more people than its maxSize.
var ErrTooLarge = errors.New("the audience is larger than audience.maxSize")

// Source is what reading an audience needs.
type Source struct {
	Audience   *teamsv1alpha1.AudienceTarget
	Graph      graph.Interface
	Bot        botframework.Interface
	ServiceURL string
	// Max is the most people the audience may have.
	Max int
}

// Read reads the audience once. Users given by name who do not exist come back Skipped
// (UserNotFound); everyone else Pending. People are listed once each, in the order read.
func Read(ctx context.Context, src Source) ([]Person, error) {
	a := src.Audience
	var people []Person
	var err error
	switch {
	case a.Team != nil:
		people, err = readTeam(ctx, src)
	case a.Group != nil:
		people, err = readGroup(ctx, src)
	default:
		people, err = readUsers(ctx, src)
	}
	if err != nil {
		return nil, err
	}
	people = dedupe(people)
	if len(people) > src.Max {
		return nil, fmt.Errorf("%w (%d)", ErrTooLarge, src.Max)
	}
	return people, nil
}

// readTeam pages the roster of the team's General channel with the Connector, as Teams'
// "Send proactive messages" shows for reaching every member
// (https://learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/send-proactive-messages).
func readTeam(ctx context.Context, src Source) ([]Person, error) {
	roster, ok := src.Bot.(botframework.RosterReader)
	if !ok {
		return nil, errors.New("the Connector client cannot page rosters")
	}
	general, err := src.Graph.GetPrimaryChannel(ctx, src.Audience.Team.ID)
	if err != nil {
		return nil, fmt.Errorf("finding team %s's General channel: %w", src.Audience.Team.ID, err)
	}
	var people []Person
	token := ""
	for range maxRosterPages {
		page, err := roster.GetPagedMembers(ctx, src.ServiceURL, general.ID, rosterPageSize, token)
		if err != nil {
			return nil, fmt.Errorf("reading team %s's roster: %w", src.Audience.Team.ID, err)
		}
		for _, m := range page.Members {
			if strings.EqualFold(m.UserRole, "guest") && !src.Audience.Team.IncludeGuests {
				continue
			}
			people = append(people, Person{User: m.AADObjectID, Member: m.ID, State: Pending})
		}
		if len(people) > src.Max {
			return nil, fmt.Errorf("%w (%d)", ErrTooLarge, src.Max)
		}
		if token = page.ContinuationToken; token == "" {
			return people, nil
		}
	}
	return nil, fmt.Errorf("reading team %s's roster: more than %d pages", src.Audience.Team.ID, maxRosterPages)
}

func readGroup(ctx context.Context, src Source) ([]Person, error) {
	reader, ok := src.Graph.(graph.AudienceReader)
	if !ok {
		return nil, errors.New("the Graph client cannot list group members")
	}
	users, err := reader.ListGroupUsers(ctx, src.Audience.Group.ID, src.Max)
	if errors.Is(err, graph.ErrTooMany) {
		return nil, fmt.Errorf("%w (%d)", ErrTooLarge, src.Max)
	}
	if err != nil {
		return nil, fmt.Errorf("reading group %s: %w", src.Audience.Group.ID, err)
	}
	people := make([]Person, 0, len(users))
	for _, u := range users {
		people = append(people, Person{User: u.ID, State: Pending})
	}
	return people, nil
}

// readUsers takes object ids and 29: ids as given and looks up user principal names.
func readUsers(ctx context.Context, src Source) ([]Person, error) {
	people := make([]Person, 0, len(src.Audience.Users))
	for _, u := range src.Audience.Users {
		switch {
		case strings.HasPrefix(u.ID, "29:"):
			people = append(people, Person{User: u.ID, Member: u.ID, State: Pending})
		case u.ID != "":
			people = append(people, Person{User: strings.ToLower(u.ID), State: Pending})
		default:
			found, err := src.Graph.GetUser(ctx, u.UserPrincipalName)
			if msapi.IsNotFound(err) {
				people = append(people, Person{User: u.UserPrincipalName, State: Skipped, Reason: ReasonUserNotFound})
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("looking up user %s: %w", u.UserPrincipalName, err)
			}
			people = append(people, Person{User: strings.ToLower(found.ID), State: Pending})
		}
	}
	return people, nil
}

func dedupe(people []Person) []Person {
	seen := make(map[string]bool, len(people))
	out := people[:0]
	for _, p := range people {
		k := strings.ToLower(p.User)
		if p.User == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, p)
	}
	return out
}
