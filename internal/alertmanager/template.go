package alertmanager

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"text/template/parse"
	"time"

	ttemplate "text/template"
)

// A card template comes from a namespace's ConfigMap, so it is untrusted code run inside the
// manager, which serves every namespace. text/template has no budget of its own: a range over a
// large integer, a printf with a huge width, a string doubled in a loop or templates calling
// each other can each take gigabytes or minutes. Every execution therefore runs under a budget
// (TemplateBudget) enforced at the only places where a template can loop, allocate or recurse:
//   - every {{range}} goes through a wrapper that counts iterations and checks the deadline;
//   - every template (the main one and each {{define}}) counts its depth and the calls made;
//   - the output goes to a writer that refuses to grow past MaxOutputBytes;
//   - the functions that build strings (printf, print, println, html, js, urlquery and ours)
//     refuse inputs or results over MaxStringBytes, and printf refuses large widths and '*'.
// A template over budget fails with ErrTemplateBudget and a reason naming the limit; the
// receiver answers 422 and records an event on the target, and the manager carries on.

// ErrTemplateBudget marks a template stopped for exceeding its budget.
var ErrTemplateBudget = errors.New("the template exceeds its budget")

// TemplateBudget bounds one execution of a user's card template.
type TemplateBudget struct {
	// MaxSourceBytes caps the template text (a ConfigMap value may be 1 MiB).
	MaxSourceBytes int
	// MaxOutputBytes caps what the template writes.
	MaxOutputBytes int
	// MaxStringBytes caps every string a function receives or builds.
	MaxStringBytes int
	// MaxIterations caps the {{range}} iterations of one execution, all loops together.
	MaxIterations int
	// MaxDepth caps how deeply templates call each other ({{template}}, {{block}}), counting the main one.
	MaxDepth int
	// MaxCalls caps the {{template}} calls of one execution.
	MaxCalls int
	// Timeout caps the execution's wall time; it is checked at every iteration, call, write and function.
	Timeout time.Duration
}

// DefaultTemplateBudget is far above what a card needs (a card is at most 4 x 24 KiB) and far
// below what would hurt the manager: at most a few MiB of allocation and a second of CPU.
var DefaultTemplateBudget = TemplateBudget{
	MaxSourceBytes: 64 << 10,
	MaxOutputBytes: 256 << 10,
	MaxStringBytes: 256 << 10,
	MaxIterations:  100_000,
	MaxDepth:       10,
	MaxCalls:       10_000,
	Timeout:        time.Second,
}

// Names of the functions inserted into the parse tree. A name starting with "_" cannot collide
// with the user's functions: ours are the only ones a template can call.
const (
	fnRange1 = "_teamsRange1"
	fnRange2 = "_teamsRange2"
	fnEnter  = "_teamsEnter"
	fnLeave  = "_teamsLeave"
)

// maxPrintfWidth caps a width or precision in a printf format: "%999999d" allocates before any
// check on the result could run.
const maxPrintfWidth = 1000

// budgetState is the budget of one execution.
type budgetState struct {
	b          TemplateBudget
	deadline   time.Time
	iterations int
	depth      int
	calls      int
	err        error
}

func (s *budgetState) fail(format string, args ...any) error {
	if s.err == nil {
		s.err = fmt.Errorf("%w: "+format, append([]any{ErrTemplateBudget}, args...)...)
	}
	return s.err
}

// check returns the recorded failure, or one if the deadline passed.
func (s *budgetState) check() error {
	if s.err != nil {
		return s.err
	}
	if time.Now().After(s.deadline) {
		return s.fail("it ran longer than %s", s.b.Timeout)
	}
	return nil
}

func (s *budgetState) iterate() error {
	if err := s.check(); err != nil {
		return err
	}
	s.iterations++
	if s.iterations > s.b.MaxIterations {
		return s.fail("its loops ran more than %d iterations", s.b.MaxIterations)
	}
	return nil
}

func (s *budgetState) enter() (string, error) {
	if err := s.check(); err != nil {
		return "", err
	}
	s.depth++
	s.calls++
	switch {
	case s.depth > s.b.MaxDepth:
		return "", s.fail("templates call each other more than %d deep (recursion?)", s.b.MaxDepth)
	case s.calls > s.b.MaxCalls:
		return "", s.fail("it called templates more than %d times", s.b.MaxCalls)
	}
	return "", nil
}

func (s *budgetState) leave() string {
	s.depth--
	return ""
}

// str refuses a string over MaxStringBytes.
func (s *budgetState) str(what string, n int) error {
	if err := s.check(); err != nil {
		return err
	}
	if n > s.b.MaxStringBytes {
		return s.fail("%s would be %d bytes, more than %d", what, n, s.b.MaxStringBytes)
	}
	return nil
}

// limitedWriter refuses to grow past its budget.
type limitedWriter struct {
	s   *budgetState
	buf []byte
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if err := w.s.check(); err != nil {
		return 0, err
	}
	if len(w.buf)+len(p) > w.s.b.MaxOutputBytes {
		return 0, w.s.fail("its output is more than %d bytes", w.s.b.MaxOutputBytes)
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// instrument inserts the budget's hooks into every tree of t: each {{range X}} becomes
// {{range X | _teamsRange1}} (or 2, with two variables), and each template's body is wrapped
// in {{_teamsEnter}} ... {{_teamsLeave}}.
func instrument(t *ttemplate.Template) {
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Root == nil {
			continue
		}
		walkNodes(tt.Root)
		root := tt.Root
		pos := root.Position()
		nodes := make([]parse.Node, 0, len(root.Nodes)+2)
		nodes = append(nodes, callAction(pos, fnEnter))
		nodes = append(nodes, root.Nodes...)
		root.Nodes = append(nodes, callAction(pos, fnLeave))
	}
}

func callAction(pos parse.Pos, fn string) *parse.ActionNode {
	cmd := &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos, Args: []parse.Node{parse.NewIdentifier(fn).SetPos(pos)}}
	return &parse.ActionNode{NodeType: parse.NodeAction, Pos: pos, Pipe: &parse.PipeNode{NodeType: parse.NodePipe, Pos: pos, Cmds: []*parse.CommandNode{cmd}}}
}

func walkNodes(n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walkNodes(c)
		}
	case *parse.RangeNode:
		fn := fnRange1
		if len(n.Pipe.Decl) > 1 {
			fn = fnRange2
		}
		id := parse.NewIdentifier(fn).SetPos(n.Pipe.Position())
		n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pipe.Position(), Args: []parse.Node{id}})
		walkNodes(n.List)
		walkNodes(n.ElseList)
	case *parse.IfNode:
		walkNodes(n.List)
		walkNodes(n.ElseList)
	case *parse.WithNode:
		walkNodes(n.List)
		walkNodes(n.ElseList)
	}
}

// ranger returns the function that replaces a range's value with a budgeted iterator that
// yields what text/template's own range would: the element (one variable), or index or key and
// element (two), maps in key order. A value it does not know (an error in the making) passes
// through, so text/template reports it as it would.
func (s *budgetState) ranger(two bool) func(a any) (reflect.Value, error) {
	return func(a any) (reflect.Value, error) {
		v := reflect.ValueOf(a)
		for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
			if v.IsNil() {
				return v, nil
			}
			v = v.Elem()
		}
		if !v.IsValid() {
			return v, nil
		}
		var idx, elems []reflect.Value
		switch v.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			if two {
				return v, nil // text/template refuses two variables over an integer
			}
			return s.intSeq(v.Type(), v.Int()), nil
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			if two {
				return v, nil
			}
			return s.intSeq(v.Type(), int64(min(v.Uint(), uint64(s.b.MaxIterations)+1))), nil // #nosec G115 -- bounded just before
		case reflect.Array, reflect.Slice:
			for i := range v.Len() {
				idx, elems = append(idx, reflect.ValueOf(i)), append(elems, v.Index(i))
			}
		case reflect.Map:
			idx = v.MapKeys()
			slices.SortFunc(idx, compareKeys)
			for _, k := range idx {
				elems = append(elems, v.MapIndex(k))
			}
		default:
			return v, nil
		}
		if len(elems) == 0 {
			return reflect.Value{}, nil // empty: {{else}} runs, as text/template does
		}
		return s.listSeq(two, idx, elems), nil
	}
}

// intSeq yields 0 .. n-1 of type t, one budgeted iteration each.
func (s *budgetState) intSeq(t reflect.Type, n int64) reflect.Value {
	if n <= 0 {
		return reflect.Value{}
	}
	yieldT := reflect.FuncOf([]reflect.Type{t}, []reflect.Type{reflect.TypeFor[bool]()}, false)
	seqT := reflect.FuncOf([]reflect.Type{yieldT}, nil, false)
	return reflect.MakeFunc(seqT, func(in []reflect.Value) []reflect.Value {
		for i := range n {
			if s.iterate() != nil {
				break // the error surfaces after Execute returns
			}
			if !in[0].Call([]reflect.Value{reflect.ValueOf(i).Convert(t)})[0].Bool() {
				break
			}
		}
		return nil
	})
}

// listSeq yields elems (one variable) or idx, elems (two), one budgeted iteration each.
func (s *budgetState) listSeq(two bool, idx, elems []reflect.Value) reflect.Value {
	boolT := reflect.TypeFor[bool]()
	var yieldT reflect.Type
	if two {
		yieldT = reflect.FuncOf([]reflect.Type{idx[0].Type(), elems[0].Type()}, []reflect.Type{boolT}, false)
	} else {
		yieldT = reflect.FuncOf([]reflect.Type{elems[0].Type()}, []reflect.Type{boolT}, false)
	}
	seqT := reflect.FuncOf([]reflect.Type{yieldT}, nil, false)
	return reflect.MakeFunc(seqT, func(in []reflect.Value) []reflect.Value {
		for i, e := range elems {
			if s.iterate() != nil {
				break
			}
			args := []reflect.Value{e}
			if two {
				args = []reflect.Value{idx[i], e}
			}
			if !in[0].Call(args)[0].Bool() {
				break
			}
		}
		return nil
	})
}

// compareKeys orders map keys as text/template does for the key types a View has (strings,
// numbers); anything else by its printed form, which is stable enough for a card.
func compareKeys(a, b reflect.Value) int {
	switch a.Kind() {
	case reflect.String:
		return cmp.Compare(a.String(), b.String())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return cmp.Compare(a.Int(), b.Int())
	default:
		return cmp.Compare(fmt.Sprint(a.Interface()), fmt.Sprint(b.Interface()))
	}
}

// funcs are the budgeted functions of one execution: the hooks, bounded replacements of
// text/template's string-building built-ins, and TemplateFuncs with bounded inputs.
func (s *budgetState) funcs() ttemplate.FuncMap {
	fm := ttemplate.FuncMap{
		fnRange1: s.ranger(false),
		fnRange2: s.ranger(true),
		fnEnter:  s.enter,
		fnLeave:  s.leave,
		"printf": func(format string, args ...any) (string, error) {
			if err := s.checkFormat(format); err != nil {
				return "", err
			}
			if err := s.args("printf", len(format), args); err != nil {
				return "", err
			}
			out := fmt.Sprintf(format, args...)
			return out, s.str("printf's result", len(out))
		},
		"print":    s.wrapVariadic("print", fmt.Sprint),
		"println":  s.wrapVariadic("println", fmt.Sprintln),
		"html":     s.wrapVariadic("html", ttemplate.HTMLEscaper),
		"js":       s.wrapVariadic("js", ttemplate.JSEscaper),
		"urlquery": s.wrapVariadic("urlquery", ttemplate.URLQueryEscaper),
		"json": func(v any) (string, error) {
			out, err := TemplateFuncs["json"].(func(any) (string, error))(v)
			if err != nil {
				return "", err
			}
			return out, s.str("json's result", len(out))
		},
		"join": func(sep string, list []string) (string, error) {
			n := len(sep) * len(list)
			for _, e := range list {
				n += len(e)
			}
			if err := s.str("join's result", n); err != nil {
				return "", err
			}
			return strings.Join(list, sep), nil
		},
	}
	for _, name := range []string{"upper", "lower", kTitle} {
		f := TemplateFuncs[name].(func(string) string)
		fm[name] = func(in string) (string, error) {
			if err := s.str(name+"'s argument", len(in)); err != nil {
				return "", err
			}
			return f(in), nil
		}
	}
	return fm
}

// wrapVariadic bounds a built-in that formats its arguments: they together, then its result.
func (s *budgetState) wrapVariadic(name string, f func(...any) string) func(...any) (string, error) {
	return func(args ...any) (string, error) {
		if err := s.args(name, 0, args); err != nil {
			return "", err
		}
		out := f(args...)
		return out, s.str(name+"'s result", len(out))
	}
}

// args refuses arguments that together are over MaxStringBytes. Strings count their length;
// anything else its printed length, each printed form being a bounded part of the View.
func (s *budgetState) args(name string, n int, args []any) error {
	for _, a := range args {
		switch a := a.(type) {
		case string:
			n += len(a)
		case []byte:
			n += len(a)
		case nil, bool, int, int64, uint, uint64, float64:
			n += 32
		default:
			n += len(fmt.Sprint(a))
		}
		if err := s.str(name+"'s arguments", n); err != nil {
			return err
		}
	}
	return nil
}

// checkFormat refuses printf formats with a width or precision over maxPrintfWidth, or taken
// from an argument ('*').
func (s *budgetState) checkFormat(format string) error {
	if err := s.str("printf's format", len(format)); err != nil {
		return err
	}
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		num := 0
		for i++; i < len(format) && strings.IndexByte("+-# 0123456789.[]*", format[i]) >= 0; i++ {
			switch c := format[i]; {
			case c == '*':
				return s.fail("printf's format %q takes a width from an argument", truncate(format, 64))
			case c >= '0' && c <= '9':
				num = min(num*10+int(c-'0'), 1<<20)
				if num > maxPrintfWidth {
					return s.fail("printf's format %q has a width or precision over %d", truncate(format, 64), maxPrintfWidth)
				}
			default:
				num = 0
			}
		}
	}
	return nil
}
