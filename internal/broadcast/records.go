// Package broadcast sends one ProactiveMessage to many people: it reads an audience (a team's
// roster, an Entra group's transitive users, a list of users), keeps one record per person in a
// few compressed chunks, and sends one 1:1 message per person, each person written as Sending
// before their send and never more than a batch of them at once, so that a crash leaves at most
// one batch with an unknown outcome (Pipeline, docs/broadcast.md).
package broadcast

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// State is where one person is in a broadcast.
type State byte

// States, as written in the records (one letter each).
const (
	Pending   State = 'P'
	Sending   State = 'S' // in the batch being sent: persisted before the POSTs
	Delivered State = 'D'
	Failed    State = 'F'
	Skipped   State = 'K'
	Unknown   State = 'U'
	Removed   State = 'X' // delivered, then deleted in Teams (deletionPolicy Delete)
)

// Outcome names a state in status and docs.
func (s State) Outcome() string {
	switch s {
	case Pending:
		return "Pending"
	case Sending:
		return "Sending"
	case Delivered:
		return "Delivered"
	case Failed:
		return "Failed"
	case Skipped:
		return "Skipped"
	case Unknown:
		return "Unknown"
	case Removed:
		return "Removed"
	}
	return "Invalid"
}

// Person is one member of the audience and what became of them.
type Person struct {
	// User is the Entra object id (or, for a user who could not be found, the name given).
	User string
	// Member is the user's 29: id for the bot, when the roster gave it.
	Member string
	State  State
	// Reason says why a person was skipped or failed (BlockedByUser, BotNotInstalled,
	// UserNotFound, OptedOut, ...).
	Reason string
	// Conversation and Activity are the 1:1 conversation and the message in it.
	Conversation string
	Activity     string
}

// maxFieldBytes bounds each field read back from a record: ids are far shorter.
const maxFieldBytes = 1024

// maxChunkPeople bounds the people of one decoded chunk.
const maxChunkPeople = 100000

// Encode writes people as gzip-compressed tab-separated lines: user, member, state, reason,
// conversation, activity. Ids hold no tabs or newlines (they are checked when read).
func Encode(people []Person) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(zw)
	for _, p := range people {
		for _, f := range []string{p.User, p.Member, p.Reason, p.Conversation, p.Activity} {
			if strings.ContainsAny(f, "\t\n") {
				return nil, fmt.Errorf("record of %q: a field holds a tab or newline", p.User)
			}
		}
		_, _ = fmt.Fprintf(w, "%s\t%s\t%c\t%s\t%s\t%s\n", p.User, p.Member, p.State, p.Reason, p.Conversation, p.Activity)
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode reads what Encode wrote, at most maxChunkPeople people and maxBytes uncompressed.
func Decode(data []byte, maxBytes int64) ([]Person, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decoding records: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("decoding records: %w", err)
	}
	if int64(len(raw)) > maxBytes {
		return nil, errors.New("decoding records: larger than allowed")
	}
	var out []Person
	for line := range strings.SplitSeq(strings.TrimSuffix(string(raw), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 6 || len(f[2]) != 1 || len(out) >= maxChunkPeople {
			return nil, errors.New("decoding records: malformed record")
		}
		for _, v := range f {
			if len(v) > maxFieldBytes {
				return nil, errors.New("decoding records: a field is too long")
			}
		}
		out = append(out, Person{User: f[0], Member: f[1], State: State(f[2][0]), Reason: f[3], Conversation: f[4], Activity: f[5]})
	}
	return out, nil
}

// Counts are people per outcome and per reason.
type Counts struct {
	Delivered, Failed, Skipped, Unknown, Pending, Removed int
	// Reasons counts "Outcome/Reason" keys (Skipped/BlockedByUser).
	Reasons map[string]int
}

// Count tallies people.
func Count(people []Person) Counts {
	c := Counts{Reasons: map[string]int{}}
	for _, p := range people {
		c.add(p)
	}
	return c
}

func (c *Counts) add(p Person) {
	switch p.State {
	case Delivered:
		c.Delivered++
	case Failed:
		c.Failed++
	case Skipped:
		c.Skipped++
	case Unknown:
		c.Unknown++
	case Removed:
		c.Delivered++
		c.Removed++
	default: // Pending, Sending
		c.Pending++
	}
	if (p.State == Failed || p.State == Skipped || p.State == Unknown) && p.Reason != "" {
		c.Reasons[p.State.Outcome()+"/"+p.Reason]++
	}
}

// Add sums o into c.
func (c *Counts) Add(o Counts) {
	c.Delivered += o.Delivered
	c.Failed += o.Failed
	c.Skipped += o.Skipped
	c.Unknown += o.Unknown
	c.Pending += o.Pending
	c.Removed += o.Removed
	if c.Reasons == nil {
		c.Reasons = map[string]int{}
	}
	for k, v := range o.Reasons {
		c.Reasons[k] += v
	}
}

// Total is everyone counted.
func (c Counts) Total() int { return c.Delivered + c.Failed + c.Skipped + c.Unknown + c.Pending }

// String is the counts annotation: d=1,f=2,k=3,u=4,p=5,x=6;Skipped/BlockedByUser=3,...
func (c Counts) String() string {
	s := fmt.Sprintf("d=%d,f=%d,k=%d,u=%d,p=%d,x=%d", c.Delivered, c.Failed, c.Skipped, c.Unknown, c.Pending, c.Removed)
	var b strings.Builder
	b.WriteString(s)
	for i, k := range slices.Sorted(maps.Keys(c.Reasons)) {
		sep := ","
		if i == 0 {
			sep = ";"
		}
		b.WriteString(sep + k + "=" + strconv.Itoa(c.Reasons[k]))
	}
	return b.String()
}

// ParseCounts reads String's form.
func ParseCounts(s string) (Counts, error) {
	c := Counts{Reasons: map[string]int{}}
	head, reasons, _ := strings.Cut(s, ";")
	fields := map[string]*int{"d": &c.Delivered, "f": &c.Failed, "k": &c.Skipped, "u": &c.Unknown, "p": &c.Pending, "x": &c.Removed}
	for kv := range strings.SplitSeq(head, ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if fields[k] == nil || err != nil || n < 0 {
			return Counts{}, fmt.Errorf("counts %q: malformed", s)
		}
		*fields[k] = n
	}
	if reasons == "" {
		return c, nil
	}
	for kv := range strings.SplitSeq(reasons, ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || k == "" {
			return Counts{}, fmt.Errorf("counts %q: malformed", s)
		}
		c.Reasons[k] = n
	}
	return c, nil
}
