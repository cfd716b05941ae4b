package graph

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/teams-operator/teams-operator/internal/msapi"
)

// odataString quotes s as an OData string literal: single quotes are doubled,
// so an id like a'b cannot end the literal and add its own filter terms.
func odataString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// eqFilter builds "<property> eq '<value>'".
func eqFilter(property, value string) string {
	return property + " eq " + odataString(value)
}

// query encodes OData system query options. The keys are fixed names such as
// $filter and go out as they are; values are percent-encoded, with spaces as
// %20 (some Graph front ends take a literal + in a query as a plus sign).
func query(pairs ...[2]string) string {
	parts := make([]string, 0, len(pairs))
	for _, p := range pairs {
		parts = append(parts, p[0]+"="+strings.ReplaceAll(url.QueryEscape(p[1]), "+", "%20"))
	}
	return strings.Join(parts, "&")
}

// segment escapes one id for use as one path segment. It refuses what no id
// can be and what escaping cannot make safe: empty, "." and "..", which a server
// or proxy may resolve as a path step.
func segment(what, id string) (string, error) {
	switch id {
	case "":
		return "", fmt.Errorf("%s is empty: %w", what, msapi.ErrInvalidArgument)
	case ".", "..":
		return "", fmt.Errorf("%s %q is not a valid id: %w", what, id, msapi.ErrInvalidArgument)
	}
	return url.PathEscape(id), nil
}

// userSegment addresses a user. A UPN that starts with '$' must be written as
// users('$name@domain'), or Graph reads it as a system query option.
func userSegment(idOrUPN string) (string, error) {
	if strings.HasPrefix(idOrUPN, "$") {
		// The parentheses and quotes are syntax and stay literal (both are
		// allowed in a path); the name inside is escaped.
		return "users('" + url.PathEscape(strings.ReplaceAll(idOrUPN, "'", "''")) + "')", nil
	}
	seg, err := segment("user id", idOrUPN)
	if err != nil {
		return "", err
	}
	return "users/" + seg, nil
}

// installedAppsPath is the installedApps collection of a scope.
func (s Scope) installedAppsPath() (string, error) {
	switch s.Kind {
	case ScopeTeam:
		id, err := segment("team id", s.ID)
		return "/teams/" + id + "/installedApps", err
	case ScopeChat:
		id, err := segment("chat id", s.ID)
		return "/chats/" + id + "/installedApps", err
	case ScopeUser:
		user, err := userSegment(s.ID)
		return "/" + user + "/teamwork/installedApps", err
	}
	return "", fmt.Errorf("scope kind %q is not team, user or chat: %w", s.Kind, msapi.ErrInvalidArgument)
}

// installationPath is one installation in a scope.
func (s Scope) installationPath(installationID string) (string, error) {
	base, err := s.installedAppsPath()
	if err != nil {
		return "", err
	}
	id, err := segment("installation id", installationID)
	if err != nil {
		return "", err
	}
	return base + "/" + id, nil
}
