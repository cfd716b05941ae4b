package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// FaultAction is what a fault does to a matching request.
type FaultAction string

const (
	// FaultError answers Status with an error body of the API's shape (Code, Message) and an
	// optional Retry-After, without touching state.
	FaultError FaultAction = "error"
	// FaultLatency delays the request by Latency, then serves it normally.
	FaultLatency FaultAction = "latency"
	// FaultAcceptThenDrop serves the request fully (a message is stored), then closes the
	// connection without an answer.
	FaultAcceptThenDrop FaultAction = "acceptThenDrop"
)

// Fault is an injected failure. Empty match fields match everything; the first active matching
// fault (in the order added) applies.
type Fault struct {
	ID string `json:"id,omitempty"`

	// API is entra, graph or botframework.
	API string `json:"api,omitempty"`
	// Operation is an operation name of docs/dev/contracts.md (sendActivity, installApp, token…).
	Operation string `json:"operation,omitempty"`
	// Method is an HTTP method.
	Method string `json:"method,omitempty"`
	// PathContains is a substring of the unescaped URL path.
	PathContains string `json:"pathContains,omitempty"`

	// Action defaults to error when Status is set, latency when only Latency is set.
	Action FaultAction `json:"action,omitempty"`
	Status int         `json:"status,omitempty"`
	// Code and Message go in the API's error body (defaults by status).
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Body, when set, replaces the whole error body (sent as application/json).
	Body string `json:"body,omitempty"`
	// RetryAfter is sent verbatim as the Retry-After header: "2", "1.5" or an HTTP date.
	RetryAfter string        `json:"retryAfter,omitempty"`
	Latency    time.Duration `json:"-"`

	// Count limits the fault to that many matches (0: unlimited).
	Count int `json:"count,omitempty"`
	// Duration limits the fault to that long after it is added (0: unlimited).
	Duration time.Duration `json:"-"`

	// Hits is how many requests it has matched (read-only).
	Hits int `json:"hits"`
	// Expires is when Duration ends (read-only).
	Expires *time.Time `json:"expires,omitempty"`
}

type faultJSON struct {
	faultAlias
	Latency  jsonDuration `json:"latency,omitzero"`
	Duration jsonDuration `json:"duration,omitzero"`
}

type faultAlias Fault

// MarshalJSON writes Latency and Duration as Go duration strings ("1.5s").
func (f Fault) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultJSON{faultAlias: faultAlias(f), Latency: jsonDuration(f.Latency), Duration: jsonDuration(f.Duration)})
}

// UnmarshalJSON reads Latency and Duration as duration strings or numbers of seconds.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*f = Fault(j.faultAlias)
	f.Latency, f.Duration = time.Duration(j.Latency), time.Duration(j.Duration)
	return nil
}

// jsonDuration is a duration as "1.5s" or a number of seconds.
type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = jsonDuration(v)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return errors.New("duration must be a string like \"1.5s\" or a number of seconds")
	}
	*d = jsonDuration(f * float64(time.Second))
	return nil
}

func (f *Fault) normalize() error {
	if f.Action == "" {
		switch {
		case f.Status != 0:
			f.Action = FaultError
		case f.Latency > 0:
			f.Action = FaultLatency
		}
	}
	switch f.Action {
	case FaultError:
		if f.Status < 400 || f.Status > 599 {
			return fmt.Errorf("fault status %d is not an HTTP error status", f.Status)
		}
	case FaultLatency:
		if f.Latency <= 0 {
			return errors.New("latency fault needs latency > 0")
		}
	case FaultAcceptThenDrop:
	default:
		return fmt.Errorf("fault action %q is not error, latency or acceptThenDrop", f.Action)
	}
	switch f.API {
	case "", apiEntra, apiGraph, apiBot:
	default:
		return fmt.Errorf("fault api %q is not entra, graph or botframework", f.API)
	}
	if f.Count < 0 || f.Duration < 0 {
		return errors.New("fault count and duration must not be negative")
	}
	f.Method = strings.ToUpper(f.Method)
	return nil
}

type activeFault struct {
	Fault
	remaining int // with Count > 0
	expires   time.Time
}

// faultSet is the list of active faults. A request with no faults configured costs one atomic load.
type faultSet struct {
	mu     sync.Mutex
	list   []*activeFault
	active atomic.Int32
}

func (s *faultSet) add(f Fault, now time.Time) string {
	if f.ID == "" {
		f.ID = uuid.NewString()
	}
	f.Hits, f.Expires = 0, nil
	a := &activeFault{Fault: f, remaining: f.Count}
	if f.Duration > 0 {
		a.expires = now.Add(f.Duration)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, a)
	s.active.Store(int32(len(s.list)))
	return f.ID
}

func (s *faultSet) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = nil
	s.active.Store(0)
}

func (s *faultSet) remove(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.list)
	s.list = slices.DeleteFunc(s.list, func(a *activeFault) bool { return a.ID == id })
	s.active.Store(int32(len(s.list)))
	return len(s.list) != n
}

func (s *faultSet) snapshot(now time.Time) []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	out := make([]Fault, 0, len(s.list))
	for _, a := range s.list {
		f := a.Fault
		if !a.expires.IsZero() {
			e := a.expires
			f.Expires = &e
		}
		out = append(out, f)
	}
	return out
}

func (s *faultSet) expire(now time.Time) {
	s.list = slices.DeleteFunc(s.list, func(a *activeFault) bool {
		return (!a.expires.IsZero() && !now.Before(a.expires)) || (a.Count > 0 && a.remaining <= 0)
	})
	s.active.Store(int32(len(s.list)))
}

// match consumes and returns the first active fault for the request, if any.
func (s *faultSet) match(api, op, method, path string, now time.Time) *Fault {
	if s.active.Load() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	for _, a := range s.list {
		if (a.API != "" && a.API != api) || (a.Operation != "" && a.Operation != op) ||
			(a.Method != "" && a.Method != method) || (a.PathContains != "" && !strings.Contains(path, a.PathContains)) {
			continue
		}
		a.Hits++
		if a.Count > 0 {
			a.remaining--
		}
		f := a.Fault
		return &f
	}
	return nil
}

// retryAfterSeconds formats a wait for Retry-After as whole seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}

// retryAfterFraction formats a wait as seconds with millisecond precision ("2.128"), as Graph
// has been seen to send (reference 1.6).
func retryAfterFraction(d time.Duration) string {
	ms := max(int64((d+time.Millisecond-1)/time.Millisecond), 1)
	return strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)
}
