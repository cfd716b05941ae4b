package botframework

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotImplemented is returned by a Fake method whose function field is unset.
var ErrNotImplemented = errors.New("not implemented")

// Fake implements Interface with function fields, for controller tests. An unset
// field makes its method return ErrNotImplemented, so a test notices a call it
// did not expect.
type Fake struct {
	CreateConversationFunc func(ctx context.Context, serviceURL string, p ConversationParameters) (ConversationResource, error)
	SendActivityFunc       func(ctx context.Context, serviceURL, conversationID string, a *Activity) (string, error)
	ReplyToActivityFunc    func(ctx context.Context, serviceURL, conversationID, replyToID string, a *Activity) (string, error)
	UpdateActivityFunc     func(ctx context.Context, serviceURL, conversationID, activityID string, a *Activity) (string, error)
	DeleteActivityFunc     func(ctx context.Context, serviceURL, conversationID, activityID string) error
}

var _ Interface = (*Fake)(nil)

func notImplemented(method string) error {
	return fmt.Errorf("botframework.Fake.%s: %w", method, ErrNotImplemented)
}

// CreateConversation implements Interface.
func (f *Fake) CreateConversation(ctx context.Context, serviceURL string, p ConversationParameters) (ConversationResource, error) {
	if f.CreateConversationFunc == nil {
		return ConversationResource{}, notImplemented("CreateConversation")
	}
	return f.CreateConversationFunc(ctx, serviceURL, p)
}

// SendActivity implements Interface.
func (f *Fake) SendActivity(ctx context.Context, serviceURL, conversationID string, a *Activity) (string, error) {
	if f.SendActivityFunc == nil {
		return "", notImplemented("SendActivity")
	}
	return f.SendActivityFunc(ctx, serviceURL, conversationID, a)
}

// ReplyToActivity implements Interface.
func (f *Fake) ReplyToActivity(ctx context.Context, serviceURL, conversationID, replyToID string, a *Activity) (string, error) {
	if f.ReplyToActivityFunc == nil {
		return "", notImplemented("ReplyToActivity")
	}
	return f.ReplyToActivityFunc(ctx, serviceURL, conversationID, replyToID, a)
}

// UpdateActivity implements Interface.
func (f *Fake) UpdateActivity(ctx context.Context, serviceURL, conversationID, activityID string, a *Activity) (string, error) {
	if f.UpdateActivityFunc == nil {
		return "", notImplemented("UpdateActivity")
	}
	return f.UpdateActivityFunc(ctx, serviceURL, conversationID, activityID, a)
}

// DeleteActivity implements Interface.
func (f *Fake) DeleteActivity(ctx context.Context, serviceURL, conversationID, activityID string) error {
	if f.DeleteActivityFunc == nil {
		return notImplemented("DeleteActivity")
	}
	return f.DeleteActivityFunc(ctx, serviceURL, conversationID, activityID)
}
