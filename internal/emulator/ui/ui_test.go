package ui_test

import (
	"encoding/json"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/teams-operator/teams-operator/internal/emulator/ui"
)

// A message cannot close the page's script element: the view is JSON with <, > and & escaped.
func TestStandaloneKeepsContentInert(t *testing.T) {
	g := NewWithT(t)
	evil := `</script><script>alert(1)</script><!--`
	act, err := json.Marshal(map[string]string{"type": "message", "text": evil})
	g.Expect(err).NotTo(HaveOccurred())
	page, err := ui.Standalone(&ui.View{Title: "t </title><script>x</script>", Tenants: []ui.Tenant{{
		Chats: []ui.Chat{{ID: "c", Messages: []ui.Message{{ID: "1", Activity: act}}}}}}})
	g.Expect(err).NotTo(HaveOccurred())
	s := string(page)
	g.Expect(s).NotTo(ContainSubstring("<script>alert(1)"))
	g.Expect(s).NotTo(ContainSubstring("<script>x</script>"))
	g.Expect(strings.Count(s, "<script")).To(Equal(2), "the view and the bundle, nothing else")
	g.Expect(s).To(ContainSubstring(`\u003c/script\u003e`))
}
