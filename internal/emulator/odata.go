//nolint:goconst // JSON field names and Microsoft values read better inline than as constants.
package emulator

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
)

// A small OData $filter implementation: what Graph accepts on the calls the operator makes.
// Grammar:
//
//	expr    = and { "or" and }
//	and     = unary { "and" unary }
//	unary   = "not" unary | "(" expr ")" | path ( ("eq"|"ne") literal | "/" ("any"|"all") "(" var ":" expr ")" )
//	literal = 'string' (with '' for a quote) | null | true | false | number
//
// Paths are checked against the resource's schema, as Graph does, so a typo is a 400.

// odataType describes a resource for $filter: its properties; a property is a primitive (nil),
// an object (*odataType) or a collection of objects (odataCollection).
type odataType struct {
	name  string
	props map[string]any
}

type odataCollection struct{ elem *odataType }

// filterError is a 400 for a bad $filter; msg is Graph's message.
type filterError struct{ msg string }

func (e *filterError) Error() string { return e.msg }

type filterNode interface {
	eval(obj map[string]any, vars map[string]map[string]any) bool
}

type cmpNode struct {
	path []string
	ne   bool
	val  any // string, nil, bool, float64
}

type logicNode struct {
	or   bool
	l, r filterNode
}

type notNode struct{ x filterNode }

type lambdaNode struct {
	coll []string
	all  bool
	v    string
	body filterNode
}

type tokKind int

const (
	tIdent tokKind = iota
	tString
	tNumber
	tLParen
	tRParen
	tSlash
	tColon
	tComma
	tEOF
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func lexFilter(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(':
			out = append(out, token{tLParen, "(", i})
			i++
		case c == ')':
			out = append(out, token{tRParen, ")", i})
			i++
		case c == '/':
			out = append(out, token{tSlash, "/", i})
			i++
		case c == ':':
			out = append(out, token{tColon, ":", i})
			i++
		case c == ',':
			out = append(out, token{tComma, ",", i})
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return nil, syntaxError(s, i, "unterminated string literal")
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			out = append(out, token{tString, b.String(), i})
			i = j + 1
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(s) && (s[j] == '.' || (s[j] >= '0' && s[j] <= '9')) {
				j++
			}
			out = append(out, token{tNumber, s[i:j], i})
			i = j
		case isIdentByte(c):
			j := i
			for j < len(s) && (isIdentByte(s[j]) || (s[j] >= '0' && s[j] <= '9')) {
				j++
			}
			out = append(out, token{tIdent, s[i:j], i})
			i = j
		default:
			return nil, syntaxError(s, i, fmt.Sprintf("unexpected character '%c'", c))
		}
	}
	return append(out, token{tEOF, "", len(s)}), nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '@' || c == '.' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func syntaxError(s string, pos int, why string) error {
	return &filterError{fmt.Sprintf("Invalid filter clause: Syntax error at position %d in '%s': %s.", pos, s, why)}
}

type filterParser struct {
	src  string
	toks []token
	i    int
	root *odataType
	vars map[string]*odataType
}

// parseFilter parses and type-checks a $filter expression against a resource type.
func parseFilter(src string, root *odataType) (filterNode, error) {
	toks, err := lexFilter(src)
	if err != nil {
		return nil, err
	}
	p := &filterParser{src: src, toks: toks, root: root, vars: map[string]*odataType{}}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, syntaxError(src, t.pos, fmt.Sprintf("unexpected '%s'", t.text))
	}
	return n, nil
}

func (p *filterParser) peek() token { return p.toks[p.i] }
func (p *filterParser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *filterParser) keyword(w string) bool {
	if t := p.peek(); t.kind == tIdent && t.text == w {
		p.i++
		return true
	}
	return false
}

func (p *filterParser) expect(k tokKind, what string) (token, error) {
	t := p.next()
	if t.kind != k {
		if t.kind == tEOF {
			return t, syntaxError(p.src, t.pos, "expected "+what+" but the expression ended")
		}
		return t, syntaxError(p.src, t.pos, fmt.Sprintf("expected %s, found '%s'", what, t.text))
	}
	return t, nil
}

func (p *filterParser) expr() (filterNode, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &logicNode{or: true, l: l, r: r}
	}
	return l, nil
}

func (p *filterParser) and() (filterNode, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &logicNode{l: l, r: r}
	}
	return l, nil
}

func (p *filterParser) unary() (filterNode, error) {
	if p.keyword("not") {
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &notNode{x}, nil
	}
	if p.peek().kind == tLParen {
		p.next()
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, "')'"); err != nil {
			return nil, err
		}
		return x, nil
	}
	return p.pathExpr()
}

func (p *filterParser) pathExpr() (filterNode, error) {
	first, err := p.expect(tIdent, "a property name")
	if err != nil {
		return nil, err
	}
	path := []string{first.text}
	for p.peek().kind == tSlash {
		p.next()
		seg, err := p.expect(tIdent, "a property name")
		if err != nil {
			return nil, err
		}
		if (seg.text == "any" || seg.text == "all") && p.peek().kind == tLParen {
			return p.lambda(path, seg.text == "all")
		}
		path = append(path, seg.text)
	}
	if err := p.checkPath(path, false); err != nil {
		return nil, err
	}
	opTok, err := p.expect(tIdent, "an operator")
	if err != nil {
		return nil, err
	}
	if opTok.text != "eq" && opTok.text != "ne" {
		return nil, &filterError{fmt.Sprintf("Invalid filter clause: the operator '%s' is not supported on this property.", opTok.text)}
	}
	v, err := p.literal()
	if err != nil {
		return nil, err
	}
	return &cmpNode{path: path, ne: opTok.text == "ne", val: v}, nil
}

func (p *filterParser) lambda(coll []string, all bool) (filterNode, error) {
	elem, err := p.collection(coll)
	if err != nil {
		return nil, err
	}
	p.next() // (
	v, err := p.expect(tIdent, "a lambda variable")
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(tColon, "':'"); err != nil {
		return nil, err
	}
	p.vars[v.text] = elem
	body, err := p.expr()
	delete(p.vars, v.text)
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(tRParen, "')'"); err != nil {
		return nil, err
	}
	return &lambdaNode{coll: coll, all: all, v: v.text, body: body}, nil
}

func (p *filterParser) literal() (any, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return t.text, nil
	case tNumber:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, syntaxError(p.src, t.pos, "bad number")
		}
		return f, nil
	case tIdent:
		switch t.text {
		case jsonNull:
			return nil, nil
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	case tEOF:
		return nil, syntaxError(p.src, t.pos, "expected a literal but the expression ended")
	}
	return nil, syntaxError(p.src, t.pos, fmt.Sprintf("expected a literal, found '%s'", t.text))
}

// resolveStart returns the type a path starts from (a lambda variable or the root) and the
// remaining segments.
func (p *filterParser) resolveStart(path []string) (*odataType, []string) {
	if vt, ok := p.vars[path[0]]; ok {
		return vt, path[1:]
	}
	return p.root, path
}

// checkPath: every segment a property; the last a primitive or an object (compared with null).
func (p *filterParser) checkPath(path []string, _ bool) error {
	t, segs := p.resolveStart(path)
	for i, s := range segs {
		prop, ok := t.props[s]
		if !ok {
			return unknownProperty(s, t)
		}
		switch v := prop.(type) {
		case *odataType:
			t = v
		case odataCollection:
			return &filterError{fmt.Sprintf("Invalid filter clause: the collection '%s' must be used with any or all.", s)}
		default:
			if i != len(segs)-1 {
				return unknownProperty(segs[i+1], &odataType{name: "Edm.String"})
			}
		}
	}
	return nil
}

func (p *filterParser) collection(path []string) (*odataType, error) {
	t, segs := p.resolveStart(path)
	for i, s := range segs {
		prop, ok := t.props[s]
		if !ok {
			return nil, unknownProperty(s, t)
		}
		switch v := prop.(type) {
		case *odataType:
			t = v
		case odataCollection:
			if i == len(segs)-1 {
				return v.elem, nil
			}
			return nil, &filterError{fmt.Sprintf("Invalid filter clause: the collection '%s' must be used with any or all.", s)}
		default:
			return nil, &filterError{fmt.Sprintf("Invalid filter clause: '%s' is not a collection.", s)}
		}
	}
	return nil, &filterError{"Invalid filter clause: any/all needs a collection."}
}

func unknownProperty(name string, t *odataType) error {
	return &filterError{fmt.Sprintf("Could not find a property named '%s' on type '%s'.", name, t.name)}
}

func lookup(obj map[string]any, vars map[string]map[string]any, path []string) any {
	cur := obj
	if v, ok := vars[path[0]]; ok {
		cur, path = v, path[1:]
	}
	var val any = cur
	for _, s := range path {
		m, ok := val.(map[string]any)
		if !ok || m == nil {
			return nil
		}
		val = m[s]
	}
	return val
}

func (n *cmpNode) eval(obj map[string]any, vars map[string]map[string]any) bool {
	v := lookup(obj, vars, n.path)
	var eq bool
	switch want := n.val.(type) {
	case nil:
		eq = isNull(v)
	case string:
		s, ok := v.(string)
		eq = ok && strings.EqualFold(s, want)
	default:
		eq = v == want
	}
	return eq != n.ne
}

func isNull(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return x == nil
	case string:
		return false
	}
	return false
}

func (n *logicNode) eval(obj map[string]any, vars map[string]map[string]any) bool {
	if n.or {
		return n.l.eval(obj, vars) || n.r.eval(obj, vars)
	}
	return n.l.eval(obj, vars) && n.r.eval(obj, vars)
}

func (n *notNode) eval(obj map[string]any, vars map[string]map[string]any) bool {
	return !n.x.eval(obj, vars)
}

func (n *lambdaNode) eval(obj map[string]any, vars map[string]map[string]any) bool {
	items, _ := lookup(obj, vars, n.coll).([]map[string]any)
	inner := make(map[string]map[string]any, len(vars)+1)
	maps.Copy(inner, vars)
	for _, it := range items {
		inner[n.v] = it
		if n.body.eval(obj, inner) != n.all {
			return !n.all
		}
	}
	return n.all
}

// Resource types the filters apply to.
var (
	odataBot        = &odataType{name: "microsoft.graph.teamworkBot", props: map[string]any{"id": nil}}
	odataDefinition = &odataType{name: "microsoft.graph.teamsAppDefinition", props: map[string]any{
		"id": nil, "teamsAppId": nil, "azureADAppId": nil, "displayName": nil, "version": nil, "publishingState": nil,
		"description": nil, "shortDescription": nil, "bot": odataBot,
	}}
	odataTeamsApp = &odataType{name: "microsoft.graph.teamsApp", props: map[string]any{
		"id": nil, "externalId": nil, "displayName": nil, "distributionMethod": nil,
		"appDefinitions": odataCollection{elem: odataDefinition},
	}}
	odataInstallation = &odataType{name: "microsoft.graph.teamsAppInstallation", props: map[string]any{
		"id": nil, "teamsApp": odataTeamsApp, "teamsAppDefinition": odataDefinition,
	}}
)

// Keys of an OData response body.
const (
	odataContext = "@odata.context"
	odataValue   = "value"
)
