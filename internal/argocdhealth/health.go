// Package argocdhealth runs an Argo CD resource health check (a health.lua) the way Argo CD does:
// with gopher-lua, only the package, base and table libraries open, a one-second budget, the
// object as the global table obj, and the returned table's status and message as the result.
// It serves the tests of the checks shipped in config/argocd/health (docs/gitops.md).
package argocdhealth

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Argo CD's health statuses.
const (
	Healthy     = "Healthy"
	Progressing = "Progressing"
	Degraded    = "Degraded"
	Suspended   = "Suspended"
	Missing     = "Missing"
	Unknown     = "Unknown"
)

// Status is a health check's result, as Argo CD reads it.
type Status struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// budget is the time Argo CD gives one health script.
const budget = time.Second

// Script returns the health.lua of a kind under dir, in Argo CD's layout (group/Kind/health.lua).
func Script(dir, group, kind string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, group, kind, "health.lua"))
	if err != nil {
		return "", fmt.Errorf("reading the health check of %s/%s: %w", group, kind, err)
	}
	return string(b), nil
}

// Evaluate runs script over obj. A status Argo CD does not know becomes Unknown, as in Argo CD.
func Evaluate(script string, obj *unstructured.Unstructured) (Status, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for name, open := range map[string]lua.LGFunction{
		lua.LoadLibName: lua.OpenPackage, lua.BaseLibName: lua.OpenBase, lua.TabLibName: lua.OpenTable,
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(open), Protect: true}, lua.LString(name)); err != nil {
			return Status{}, fmt.Errorf("opening the Lua library %q: %w", name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj.Object))
	if err := l.DoString(script); err != nil {
		return Status{}, fmt.Errorf("running the health check: %w", err)
	}
	table, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return Status{}, fmt.Errorf("the health check returned %s, not a table", l.Get(-1).Type())
	}
	st := Status{Status: luaString(table.RawGetString("status")), Message: luaString(table.RawGetString("message"))}
	switch st.Status {
	case Healthy, Progressing, Degraded, Suspended, Missing, Unknown:
		return st, nil
	}
	return Status{Status: Unknown, Message: "Lua returned an invalid health status"}, nil
}

func luaString(v lua.LValue) string {
	if v == lua.LNil {
		return ""
	}
	return v.String()
}

// toLua converts a JSON value of an unstructured object into Lua: objects and arrays become
// tables (arrays from index 1), numbers LNumber, as Argo CD's decodeValue does.
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := l.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(l, e))
		}
		return t
	case []any:
		t := l.NewTable()
		for _, e := range v {
			t.Append(toLua(l, e))
		}
		return t
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	}
	return lua.LNil
}
