package cardcheck

import (
	"errors"
	"fmt"

	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/delivery"
)

// Attachments checks every Adaptive Card attached to a. The paths of the problems start at the
// card ($ is attachments[i].content); the error names the attachment when there are several.
func Attachments(a *botframework.Activity) error {
	for i, att := range a.Attachments {
		if att.ContentType != botframework.ContentTypeAdaptiveCard {
			continue
		}
		if err := Card(att.Content); err != nil {
			if len(a.Attachments) > 1 {
				return fmt.Errorf("attachment %d: %w", i, err)
			}
			return err
		}
	}
	return nil
}

// Activity is Attachments plus the size rule: everything the manager checks before it sends a.
func Activity(a *botframework.Activity) error {
	var errs []error
	if err := Attachments(a); err != nil {
		errs = append(errs, err)
	}
	n, err := delivery.TeamsSize(a)
	switch {
	case err != nil:
		errs = append(errs, err)
	case n > delivery.MaxActivityBytes:
		errs = append(errs, &Error{Problems: []Problem{{Path: "$", Message: fmt.Sprintf(
			"the message is %d bytes as Teams counts it (UTF-16), Teams accepts at most about %d", n,
			delivery.MaxActivityBytes)}}})
	}
	return errors.Join(errs...)
}
