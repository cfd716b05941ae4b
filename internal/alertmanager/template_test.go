package alertmanager

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// cardOf wraps a template fragment in a minimal card, so a bomb is the only thing that fails.
func cardOf(fragment string) string {
	return `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"` + fragment + `"}]}`
}

// chain is n templates each calling the next 8 times: 8^n calls, without any recursion.
func chain(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(`{{define "t` + tname(i) + `"}}` + strings.Repeat(`{{template "t`+tname(i+1)+`"}}`, 8) + `{{end}}`)
	}
	b.WriteString(`{{define "t` + tname(n) + `"}}{{end}}`)
	return cardOf(`{{template "taa"}}`) + b.String()
}

func tname(i int) string { return string(rune('a'+i/26)) + string(rune('a'+i%26)) }

// TestTemplateBombsAreRefused runs, as a namespace's template would, each way text/template can
// allocate, loop or recurse without bound, and checks that each is refused with the limit it
// hit, that the manager's memory stays bounded, and that nothing partial is returned.
func TestTemplateBombsAreRefused(t *testing.T) {
	tests := map[string]struct {
		template string
		budget   TemplateBudget // zero: the default
		wantErr  string
	}{
		// The reproduction: 300 x 1 MB of padding (1.2 GiB in 8 s before).
		"printf width":               {template: cardOf(`{{range 300}}{{printf "%999999d" 1}}{{end}}`), wantErr: "has a width or precision over 1000"},
		"printf width in a variable": {template: cardOf(`{{$x := printf "%.99999999f" 1.0}}`), wantErr: "has a width or precision over 1000"},
		"printf star width":          {template: cardOf(`{{printf "%*d" 999999999 1}}`), wantErr: "takes a width from an argument"},
		"output":                     {template: cardOf(`{{range 100000}}xxxxxxxxxxxxxxxx{{end}}`), wantErr: "its output is more than 262144 bytes"},
		"loop without output":        {template: cardOf(`{{range 1000000000}}{{end}}`), wantErr: "its loops ran more than 100000 iterations"},
		"nested loops":               {template: cardOf(`{{range 1000}}{{range 1000}}{{range 1000}}{{end}}{{end}}{{end}}`), wantErr: "more than 100000 iterations"},
		"nested loops over data": {
			template: cardOf(`{{range .Alerts}}{{range $.Alerts}}{{range $.Alerts}}{{range $.Alerts}}{{range $.Alerts}}{{end}}{{end}}{{end}}{{end}}{{end}}`),
			wantErr:  "more than 100000 iterations",
		},
		"string doubled in a variable": {
			template: cardOf(`{{$a := "xxxxxxxxxxxxxxxx"}}{{range 64}}{{$a = printf "%s%s" $a $a}}{{end}}`),
			wantErr:  "printf's arguments would be",
		},
		"string grown by js escaping": {
			template: cardOf(`{{$a := "<<<<<<<<<<<<<<<<"}}{{range 64}}{{$a = js $a}}{{end}}`),
			wantErr:  "js's",
		},
		"string grown by print": {
			template: cardOf(`{{$a := "xxxxxxxxxxxxxxxx"}}{{range 64}}{{$a = print $a $a}}{{end}}`),
			wantErr:  "print's arguments would be",
		},
		"recursion":          {template: cardOf(`{{template "r" .}}`) + `{{define "r"}}{{template "r" .}}{{end}}`, wantErr: "templates call each other more than 10 deep"},
		"recursion by block": {template: cardOf(`{{block "b" .}}{{template "b" .}}{{end}}`), wantErr: "more than 10 deep"},
		"exponential calls":  {template: chain(6), wantErr: "called templates more than 10000 times"},
		"time": {
			template: cardOf(`{{range 10}}x{{end}}`), budget: TemplateBudget{
				MaxSourceBytes: 1 << 10, MaxOutputBytes: 1 << 10, MaxStringBytes: 1 << 10, MaxIterations: 10, MaxDepth: 2, MaxCalls: 2, Timeout: time.Nanosecond,
			},
			wantErr: "it ran longer than 1ns",
		},
		"source": {template: cardOf(strings.Repeat("x", 70<<10)), wantErr: "bytes, more than 65536"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			lim := DefaultLimits
			lim.Template = tc.budget
			if tc.budget == (TemplateBudget{}) {
				// Each case tests its own limit; the default one second could run out first on a
				// loaded machine under -race.
				lim.Template = DefaultTemplateBudget
				lim.Template.Timeout = time.Minute
			}
			view := NewView(samplePayload(StatusFiring, 20), testNS, "oncall", lim)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			tmpl, err := ParseTemplate("bomb", tc.template)
			if err == nil {
				_, err = RenderTemplate(tmpl, view, lim)
			}
			runtime.ReadMemStats(&after)
			g.Expect(err).To(MatchError(ErrTemplate))
			g.Expect(err).To(MatchError(ErrTemplateBudget))
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
			// Before the budget the first case alone allocated 1.2 GiB; a refused template now
			// costs at most a few times the output and string caps.
			g.Expect(after.TotalAlloc-before.TotalAlloc).To(BeNumerically("<", 64<<20), "bytes allocated")
		})
	}
}

// TestBudgetedRangeKeepsTextTemplateSemantics: the iterator that replaces each range yields
// what text/template's own range would.
func TestBudgetedRangeKeepsTextTemplateSemantics(t *testing.T) {
	p := samplePayload(StatusFiring, 3)
	p.GroupLabels = map[string]string{"b": "2", "a": "1", "c": "3"}
	view := NewView(p, testNS, "oncall", DefaultLimits)
	for tmpl, want := range map[string]string{
		`{{range 3}}{{.}}{{end}}`:                                                   "012",
		`{{range $i := 3}}{{$i}}{{end}}`:                                            "012",
		`{{range .GroupLabels}}{{.}}{{end}}`:                                        "123",
		`{{range $k, $v := .GroupLabels}}{{$k}}={{$v}};{{end}}`:                     "a=1;b=2;c=3;",
		`{{range $i, $a := .Alerts}}{{$i}}{{$a.Status}} {{end}}`:                    "0firing 1firing 2firing ",
		`{{range .Alerts}}{{.Labels.alertname}}{{break}}{{end}}`:                    "HighLatency",
		`{{range $i, $_ := .Alerts}}{{if eq $i 1}}{{continue}}{{end}}{{$i}}{{end}}`: "02",
		`{{range .CommonAnnotations}}x{{else}}empty{{end}}`:                         "empty",
		`{{range 0}}x{{else}}none{{end}}`:                                           "none",
		`{{define "d"}}<{{.}}>{{end}}{{range 2}}{{template "d" .}}{{end}}`:          "<0><1>",
	} {
		out, err := renderText(tmpl, view)
		if err != nil || out != want {
			t.Errorf("%s: got %q, %v; want %q", tmpl, out, err, want)
		}
	}
}

func renderText(text string, v *View) (string, error) {
	t, err := ParseTemplate("t", text)
	if err != nil {
		return "", err
	}
	s := &budgetState{b: DefaultTemplateBudget, deadline: time.Now().Add(time.Minute)}
	run, err := t.Clone()
	if err != nil {
		return "", err
	}
	w := &limitedWriter{s: s}
	err = run.Funcs(s.funcs()).Execute(w, v)
	return string(w.buf), err
}

// TestHandlerTemplateBombFallsBackAndCarriesOn: a namespace's bomb is stopped by the budget, the
// group is shown with the built-in card and the answer says why; the manager carries on.
func TestHandlerTemplateBombFallsBackAndCarriesOn(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "bomb"},
		Data: map[string]string{TemplateKey: cardOf(`{{range 300}}{{printf "%999999d" 1}}{{end}}`)}})
	r := f.post(t, targetPath+"?template=bomb", testToken, mustJSON(t, samplePayload(StatusFiring, 2)))
	g.Expect(r.code).To(Equal(http.StatusOK), r.body.Message)
	g.Expect(r.body.Result).To(Equal(ResultCreated))
	g.Expect(r.body.Warnings).To(ContainElement(And(ContainSubstring("the template exceeds its budget: printf's format"),
		HaveSuffix("the built-in card was used"))))

	r = f.post(t, targetPath, testToken, mustJSON(t, samplePayload(StatusFiring, 2)))
	g.Expect(r.code).To(Equal(http.StatusOK), r.body.Message)
	g.Expect(r.body.Warnings).To(BeEmpty())
}
