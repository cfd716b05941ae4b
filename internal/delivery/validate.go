package delivery

import (
	"errors"
	"fmt"
	"strings"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

// ErrTooLarge marks content larger than Teams accepts.
var ErrTooLarge = errors.New("message too large")

// Validate mirrors the CEL rules of ProactiveMessageSpec, for API servers that do not run
// them. Its messages are those of the CEL rules.
func Validate(spec *teamsv1alpha1.ProactiveMessageSpec) error {
	hasText, hasCard := spec.Text != "", spec.AdaptiveCard != nil
	switch {
	case hasText == hasCard:
		return errors.New("exactly one of text or adaptiveCard must be set")
	case spec.SendAt != nil && spec.ExpiresAt != nil && !spec.ExpiresAt.After(spec.SendAt.Time):
		return errors.New("expiresAt must be after sendAt")
	}
	if hasText {
		for _, m := range spec.Mentions {
			if !strings.Contains(spec.Text, "<at>"+m.Name+"</at>") {
				return fmt.Errorf("every mention's name must appear in text as <at>name</at>: <at>%s</at> is missing", m.Name)
			}
		}
	}
	return nil
}

// CheckSize builds the activity and refuses one larger than Teams accepts (TeamsSize), before
// any request: Teams would answer 413 anyway. It returns the size, for the warning above
// WarnActivityBytes.
func CheckSize(spec *teamsv1alpha1.ProactiveMessageSpec) (int, error) {
	a, err := BuildActivity(spec)
	if err != nil {
		return 0, err
	}
	n, err := TeamsSize(a)
	if err != nil {
		return 0, err
	}
	if n > MaxActivityBytes {
		return n, fmt.Errorf("%w: the message is %d bytes as Teams counts it (UTF-16), Teams accepts at most about %d: "+
			"shorten the text or the card", ErrTooLarge, n, MaxActivityBytes)
	}
	return n, nil
}
