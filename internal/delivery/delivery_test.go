package delivery

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
	"github.com/teams-operator/teams-operator/internal/botframework"
)

func rawJSON(s string) apiextensionsv1.JSON { return apiextensionsv1.JSON{Raw: []byte(s)} }

func card(msteams string) *teamsv1alpha1.AdaptiveCard {
	c := &teamsv1alpha1.AdaptiveCard{Type: "AdaptiveCard", Version: "1.5",
		Body: []apiextensionsv1.JSON{rawJSON(`{"type":"TextBlock","text":"Hi <at>Adele</at>"}`)}}
	if msteams != "" {
		j := rawJSON(msteams)
		c.MSTeams = &j
	}
	return c
}

func TestBuildActivity(t *testing.T) {
	adele := teamsv1alpha1.Mention{ID: "29:adele", Name: "Adele"}
	tests := map[string]struct {
		spec teamsv1alpha1.ProactiveMessageSpec
		want string // the activity as JSON
	}{
		"text defaults to markdown": {
			spec: teamsv1alpha1.ProactiveMessageSpec{Text: "**hi**"},
			want: `{"type":"message","text":"**hi**","textFormat":"markdown"}`,
		},
		"plain text with summary and alert": {
			spec: teamsv1alpha1.ProactiveMessageSpec{Text: "hi", TextFormat: teamsv1alpha1.TextFormatPlain, Summary: "feed", Alert: true},
			want: `{"type":"message","text":"hi","textFormat":"plain","summary":"feed","channelData":{"notification":{"alert":true}}}`,
		},
		"text mentions become entities": {
			spec: teamsv1alpha1.ProactiveMessageSpec{Text: "hi <at>Adele</at>", Mentions: []teamsv1alpha1.Mention{adele}},
			want: `{"type":"message","text":"hi <at>Adele</at>","textFormat":"markdown",` +
				`"entities":[{"type":"mention","text":"<at>Adele</at>","mentioned":{"id":"29:adele","name":"Adele"}}]}`,
		},
		"card is the only attachment, no text": {
			spec: teamsv1alpha1.ProactiveMessageSpec{AdaptiveCard: card("")},
			want: `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",` +
				`"content":{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"Hi <at>Adele</at>"}]}}]}`,
		},
		"card mentions go in msteams.entities, keeping msteams options": {
			spec: teamsv1alpha1.ProactiveMessageSpec{AdaptiveCard: card(`{"width":"Full"}`), Mentions: []teamsv1alpha1.Mention{adele}},
			want: `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",` +
				`"content":{"body":[{"text":"Hi <at>Adele</at>","type":"TextBlock"}],"msteams":{"entities":[` +
				`{"mentioned":{"id":"29:adele","name":"Adele"},"text":"<at>Adele</at>","type":"mention"}],"width":"Full"},` +
				`"type":"AdaptiveCard","version":"1.5"}}]}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			a, err := BuildActivity(&tc.spec)
			g.Expect(err).NotTo(HaveOccurred())
			got, err := json.Marshal(a)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(MatchJSON(tc.want))
			g.Expect(a.Text != "" && len(a.Attachments) > 0).To(BeFalse(), "never text and card in one activity")
		})
	}
}

func TestValidate(t *testing.T) {
	now := metav1.Now()
	later := metav1.NewTime(now.Add(time.Hour))
	tests := map[string]struct {
		spec    teamsv1alpha1.ProactiveMessageSpec
		wantErr string
	}{
		"text":                  {spec: teamsv1alpha1.ProactiveMessageSpec{Text: "x"}},
		"card":                  {spec: teamsv1alpha1.ProactiveMessageSpec{AdaptiveCard: card("")}},
		"neither":               {spec: teamsv1alpha1.ProactiveMessageSpec{}, wantErr: "exactly one of text or adaptiveCard"},
		"both":                  {spec: teamsv1alpha1.ProactiveMessageSpec{Text: "x", AdaptiveCard: card("")}, wantErr: "exactly one"},
		"expires after sendAt":  {spec: teamsv1alpha1.ProactiveMessageSpec{Text: "x", SendAt: &now, ExpiresAt: &later}},
		"expires before sendAt": {spec: teamsv1alpha1.ProactiveMessageSpec{Text: "x", SendAt: &later, ExpiresAt: &now}, wantErr: "expiresAt must be after sendAt"},
		"mention in text": {spec: teamsv1alpha1.ProactiveMessageSpec{Text: "<at>A</at>",
			Mentions: []teamsv1alpha1.Mention{{ID: "1", Name: "A"}}}},
		"mention missing from text": {spec: teamsv1alpha1.ProactiveMessageSpec{Text: "A",
			Mentions: []teamsv1alpha1.Mention{{ID: "1", Name: "A"}}}, wantErr: "<at>A</at> is missing"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := Validate(&tc.spec)
			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
		})
	}
}

func TestCheckSize(t *testing.T) {
	big := make([]apiextensionsv1.JSON, 0, 200)
	for range 200 {
		big = append(big, rawJSON(`{"type":"TextBlock","text":"`+strings.Repeat("x", 600)+`"}`))
	}
	tests := map[string]struct {
		spec    teamsv1alpha1.ProactiveMessageSpec
		tooBig  bool
		comment string
	}{
		"longest text the API allows fits": {spec: teamsv1alpha1.ProactiveMessageSpec{Text: strings.Repeat("x", 40000)}},
		"small card fits":                  {spec: teamsv1alpha1.ProactiveMessageSpec{AdaptiveCard: card("")}},
		// UTF-16, as Teams counts: a CJK character is 2 bytes (3 in UTF-8), so 40000 of them fit.
		"40000 CJK characters fit": {spec: teamsv1alpha1.ProactiveMessageSpec{Text: strings.Repeat("漢", 40000)}},
		// An emoji is 4 bytes in UTF-16: 26000 of them are over 100 KB.
		"26000 emoji are refused": {spec: teamsv1alpha1.ProactiveMessageSpec{Text: strings.Repeat("😀", 26000)}, tooBig: true},
		"24000 emoji fit":         {spec: teamsv1alpha1.ProactiveMessageSpec{Text: strings.Repeat("😀", 24000)}},
		// ASCII doubles in UTF-16: a card of 60000 ASCII characters (60 KB of UTF-8) is 120 KB.
		"card of 60000 ASCII characters is refused": {spec: teamsv1alpha1.ProactiveMessageSpec{AdaptiveCard: &teamsv1alpha1.AdaptiveCard{
			Type: "AdaptiveCard", Version: "1.5", Body: []apiextensionsv1.JSON{{Raw: []byte(`{"type":"TextBlock","text":"` +
				strings.Repeat("a", 60000) + `"}`)}}}}, tooBig: true},
		"card of 200 long blocks is refused": {
			spec:   teamsv1alpha1.ProactiveMessageSpec{AdaptiveCard: &teamsv1alpha1.AdaptiveCard{Type: "AdaptiveCard", Version: "1.5", Body: big}},
			tooBig: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := CheckSize(&tc.spec)
			if !tc.tooBig {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(errors.Is(err, ErrTooLarge)).To(BeTrue())
			g.Expect(err.Error()).To(ContainSubstring("shorten"))
		})
	}
}

func TestHashFollowsContent(t *testing.T) {
	g := NewWithT(t)
	a, _ := BuildActivity(&teamsv1alpha1.ProactiveMessageSpec{Text: "one"})
	b, _ := BuildActivity(&teamsv1alpha1.ProactiveMessageSpec{Text: "one"})
	c, _ := BuildActivity(&teamsv1alpha1.ProactiveMessageSpec{Text: "two"})
	g.Expect(Hash(a)).To(Equal(Hash(b)))
	g.Expect(Hash(a)).NotTo(Equal(Hash(c)))
}

func TestTeamsSizeIsUTF16(t *testing.T) {
	g := NewWithT(t)
	g.Expect(UTF16Bytes("a")).To(Equal(2))
	g.Expect(UTF16Bytes("漢")).To(Equal(2))
	g.Expect(UTF16Bytes("😀")).To(Equal(4))
	small, err := TeamsSize(&botframework.Activity{Type: "message", Text: "<at>A</at>"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(small).To(Equal(UTF16Bytes(`{"type":"message","text":"<at>A</at>"}`)), "no HTML escaping")
	withImage, err := TeamsSize(&botframework.Activity{Type: "message", Text: "![x](data:image/png;base64," + strings.Repeat("A", 10000) + ")"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(withImage).To(BeNumerically("<", 200), "base64 images are not counted")
	n, err := CheckSize(&teamsv1alpha1.ProactiveMessageSpec{Text: strings.Repeat("漢", 41000)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n).To(BeNumerically(">", WarnActivityBytes), "above the 80 KB Teams recommends")
}
