package broadcast

import (
	"context"
	"errors"
	"sync"

	"github.com/teams-operator/teams-operator/internal/delivery"
	"github.com/teams-operator/teams-operator/internal/msapi"
)

// Edit replaces the content of every delivered copy among people with s.Activity. It returns
// how many were edited and the first error that was not a vanished copy or a refusal by the
// person (blocked: the copy cannot change, and never will).
func (s *Sender) Edit(ctx context.Context, people []*Person) (int, error) {
	return s.each(ctx, people, func(p *Person) error {
		_, err := s.Bot.UpdateActivity(ctx, s.ServiceURL, p.Conversation, p.Activity,
			delivery.Addressed(s.Activity, p.Conversation, s.TenantID))
		return err
	})
}

// Delete deletes every delivered copy among people; each becomes Removed. A copy already gone
// (404) counts as removed.
func (s *Sender) Delete(ctx context.Context, people []*Person) (int, error) {
	return s.each(ctx, people, func(p *Person) error {
		err := s.Bot.DeleteActivity(ctx, s.ServiceURL, p.Conversation, p.Activity)
		if err == nil || msapi.IsNotFound(err) {
			p.State = Removed
			return nil
		}
		return err
	})
}

// each runs op on every delivered person with an activity id, with retries of what Teams did
// not take; done counts the successes.
func (s *Sender) each(ctx context.Context, people []*Person, op func(*Person) error) (int, error) {
	workers := s.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	var (
		mu    sync.Mutex
		done  int
		first error
		wg    sync.WaitGroup
	)
	next := make(chan *Person)
	for range workers {
		wg.Go(func() {
			for p := range next {
				err := s.retry(ctx, func() error { return op(p) })
				mu.Lock()
				switch {
				case err == nil:
					done++
				case first == nil && !ignorable(err):
					first = err
				}
				mu.Unlock()
			}
		})
	}
	for _, p := range people {
		if p.State == Delivered && p.Activity != "" && p.Conversation != "" {
			next <- p
		}
	}
	close(next)
	wg.Wait()
	return done, first
}

// ignorable: the copy is gone or the person shut the bot out; nothing will change that.
func ignorable(err error) bool {
	switch msapi.Classify(err).Reason {
	case msapi.ReasonActivityNotFound, msapi.ReasonConversationNotFound, msapi.ReasonBlockedByUser,
		msapi.ReasonBotNotInstalledForUser:
		return true
	}
	return false
}

func (s *Sender) retry(ctx context.Context, call func() error) error {
	for try := 1; ; try++ {
		err := call()
		if err == nil || !retryable(err) || try >= maxTries {
			return err
		}
		if !sleep(ctx, wait(err, try)) {
			return errors.Join(err, ctx.Err())
		}
	}
}
