// Package docs keeps the documentation honest about the code: every condition and event reason the
// operator can set (controllers and the Alertmanager receiver), and every classification of a Microsoft answer, has an entry in
// docs/troubleshooting.md, and every entry there names a reason that still exists.
package docs

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

var repoRoot = filepath.Join("..", "..")

func TestTroubleshootingCoversEveryReason(t *testing.T) {
	g := NewWithT(t)
	reasons := map[string]string{} // reason -> where the code defines or uses it

	// Condition reasons: every string constant of conditions.go but the condition types, the finalizer and
	// the annotations.
	for name, value := range stringConsts(t, filepath.Join(repoRoot, "api", "v1alpha1", "conditions.go")) {
		if !strings.HasSuffix(name, "Condition") && !strings.Contains(value, "/") {
			reasons[value] = "api/v1alpha1." + name
		}
	}
	// The classifications of Microsoft's answers: logged, and passed through as a ConversationTarget reason.
	for name, value := range stringConsts(t, filepath.Join(repoRoot, "internal", "msapi", "classify.go")) {
		if strings.HasPrefix(name, "Reason") {
			reasons[value] = "msapi." + name
		}
	}
	// The reason constants of the controllers and of the Alertmanager receiver, and the reasons of the events
	// they record.
	var files []string
	for _, pkg := range []string{"controller", "alertmanager"} {
		fs, err := filepath.Glob(filepath.Join(repoRoot, "internal", pkg, "*.go"))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(fs).NotTo(BeEmpty(), "internal/%s", pkg)
		files = append(files, fs...)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		for name, value := range stringConsts(t, f) {
			if strings.HasSuffix(name, "Reason") {
				reasons[value] = filepath.Base(filepath.Dir(f)) + "." + name
			}
		}
		for _, r := range eventReasons(t, f) {
			reasons[r] = filepath.Base(f) + " (event)"
		}
	}
	g.Expect(reasons).To(HaveKey("Delivered"), "the reasons were found")
	g.Expect(reasons).To(HaveKey("OutcomeUnknown"))
	g.Expect(reasons).To(HaveKey("Uninstalled"))

	documented := headingReasons(t, filepath.Join(repoRoot, "docs", "troubleshooting.md"))
	var missing, stale []string
	for r, where := range reasons {
		if !documented[r] {
			missing = append(missing, r+" ("+where+")")
		}
	}
	for r := range documented {
		if _, ok := reasons[r]; !ok {
			stale = append(stale, r)
		}
	}
	g.Expect(missing).To(BeEmpty(), "reasons without an entry (a ### heading naming it) in docs/troubleshooting.md")
	g.Expect(stale).To(BeEmpty(), "docs/troubleshooting.md headings naming reasons the code no longer has")
}

// stringConsts returns the string constants declared at the top level of a Go file.
func stringConsts(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out[name.Name] = v
				}
			}
		}
	}
	return out
}

// eventReasons returns the literal reasons of Eventf(obj, related, type, reason, action, ...) calls.
func eventReasons(t *testing.T, path string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) < 4 {
			return true
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Eventf" {
			if lit, ok := call.Args[3].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				v, _ := strconv.Unquote(lit.Value)
				out = append(out, v)
			}
		}
		return true
	})
	return out
}

var backticked = regexp.MustCompile("`([A-Za-z]+)`")

// headingReasons returns the words in backticks of the page's ### headings: one entry may explain several.
func headingReasons(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "### ") {
			for _, m := range backticked.FindAllStringSubmatch(line, -1) {
				out[m[1]] = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestControllerReasonsAreDeclared keeps every condition and event reason of the controllers in
// api/v1alpha1/conditions.go (issue 16): no reason constant of their own, no literal event reason.
func TestControllerReasonsAreDeclared(t *testing.T) {
	g := NewWithT(t)
	files, err := filepath.Glob(filepath.Join(repoRoot, "internal", "controller", "*.go"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(files).NotTo(BeEmpty())
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		for name := range stringConsts(t, f) {
			g.Expect(strings.HasSuffix(name, "Reason")).To(BeFalse(), "%s declares %s: declare it in conditions.go", f, name)
		}
		g.Expect(eventReasons(t, f)).To(BeEmpty(), "%s records events with literal reasons", f)
	}
}
