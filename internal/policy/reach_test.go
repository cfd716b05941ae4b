package policy

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	teamsv1alpha1 "github.com/teams-operator/teams-operator/api/v1alpha1"
)

const (
	teamA    = "11111111-1111-1111-1111-111111111111"
	teamB    = "22222222-2222-2222-2222-222222222222"
	channelX = "19:x@thread.tacv2"
	adele    = "33333333-3333-3333-3333-333333333333"
	megan    = "44444444-4444-4444-4444-444444444444"
)

// allowed reports no refusal (a nil *Refusal is not a nil error).
func allowed(r *Refusal) bool { return r == nil }

func payments() *teamsv1alpha1.ReachPolicy {
	return &teamsv1alpha1.ReachPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "payments"},
		Spec: teamsv1alpha1.ReachPolicySpec{
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"team": "payments"}},
			Teams:             &teamsv1alpha1.ReachList{IDs: []string{teamA}},
			Channels:          &teamsv1alpha1.ReachList{IDs: []string{channelX}},
			People: &teamsv1alpha1.PeopleReach{IDs: []string{adele}, UserPrincipalNames: []string{"Lynne@Contoso.com"},
				Domains: []string{"payments.contoso.com"}},
			MaxAudience: new(int32(100)),
			Weight:      new(int32(3)),
		},
	}
}

func TestCheckPlace(t *testing.T) {
	ps := Policies{payments()}
	for _, tc := range []struct {
		place   Place
		refused string // part of the message; empty: allowed
	}{
		{Place{Kind: "channel", ID: "19:any@thread.tacv2", Team: teamA}, ""},
		{Place{Kind: "channel", Team: teamA}, ""}, // General
		{Place{Kind: "channel", ID: channelX, Team: teamB}, ""},
		{Place{Kind: "channel", ID: "19:y@thread.tacv2", Team: teamB}, "channel 19:y@thread.tacv2 of team " + teamB},
		{Place{Kind: "user", ID: adele}, ""},
		{Place{Kind: "user", ID: megan}, "user " + megan + " (the object id is not listed)"},
		{Place{Kind: "user", UPN: "lynne@contoso.com"}, ""},
		{Place{Kind: "user", UPN: "diego@payments.contoso.com"}, ""},
		{Place{Kind: "user", UPN: "diego@contoso.com"}, "user diego@contoso.com"},
		{Place{Kind: "user", ID: "29:abc"}, "cannot be checked"},
		{Place{Kind: "chat", ID: "19:chat@thread.v2"}, "the chat is not listed"},
		{Place{Kind: "conversation", ID: "a:1"}, "the conversation is not listed"},
		{Place{Kind: "team", ID: teamA}, ""},
		{Place{Kind: "group", ID: teamB}, "the group is not listed"},
	} {
		t.Run(tc.place.Describe(), func(t *testing.T) {
			g := NewWithT(t)
			r := ps.CheckPlace(tc.place)
			if tc.refused == "" {
				g.Expect(allowed(r)).To(BeTrue(), "refused: %v", r)
				return
			}
			g.Expect(r).To(HaveOccurred())
			g.Expect(r.Policy).To(Equal("payments"))
			g.Expect(r.Reason).To(Equal(teamsv1alpha1.ReachRefusedReason))
			g.Expect(r.Message).To(HavePrefix(`ReachPolicy "payments" does not allow `))
			g.Expect(r.Message).To(ContainSubstring(tc.refused))
		})
	}
}

func TestPoliciesCombine(t *testing.T) {
	g := NewWithT(t)
	open := &teamsv1alpha1.ReachPolicy{ObjectMeta: metav1.ObjectMeta{Name: "audience-only"},
		Spec: teamsv1alpha1.ReachPolicySpec{MaxAudience: new(int32(10)), Weight: new(int32(2)), MaxSendsPerMinute: new(int32(120))}}
	g.Expect(allowed(Policies{open}.CheckPlace(Place{Kind: "user", ID: megan}))).To(BeTrue(), "no list: places are not restricted")
	g.Expect(Policies{open, payments()}.CheckPlace(Place{Kind: "user", ID: megan}).Policy).To(Equal("payments"))

	r := Policies{payments(), open}.CheckAudience(11)
	g.Expect(r).To(HaveOccurred())
	g.Expect(r.Reason).To(Equal(teamsv1alpha1.AudienceRefusedReason))
	g.Expect(r.Message).To(Equal(`ReachPolicy "audience-only" allows audiences of at most 10 people; this one has 11: ` +
		"narrow the audience, or ask the platform team"))
	g.Expect(allowed(Policies{payments(), open}.CheckAudience(10))).To(BeTrue())
	g.Expect(Policies{payments()}.CheckAudience(101).Policy).To(Equal("payments"))
	g.Expect(allowed(Policies{}.CheckAudience(1 << 30))).To(BeTrue())

	w, c := Policies{payments(), open}.Share()
	g.Expect([]float64{w, c}).To(Equal([]float64{2, 2}), "the smaller weight, the cap in requests per second")
	w, c = Policies{}.Share()
	g.Expect([]float64{w, c}).To(Equal([]float64{1, 0}))
}

func TestReaderSelectsByNamespaceLabels(t *testing.T) {
	g := NewWithT(t)
	scheme := runtime.NewScheme()
	g.Expect(teamsv1alpha1.AddToScheme(scheme)).To(Succeed())
	g.Expect(corev1.AddToScheme(scheme)).To(Succeed())
	everyone := &teamsv1alpha1.ReachPolicy{ObjectMeta: metav1.ObjectMeta{Name: "a-everyone"},
		Spec: teamsv1alpha1.ReachPolicySpec{MaxAudience: new(int32(1000))}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		payments(), everyone,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pay", Labels: map[string]string{"team": "payments"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "web"}},
	).Build()
	r := &Reader{Client: c}
	names := func(ns string) []string {
		ps, err := r.For(context.Background(), ns)
		g.Expect(err).NotTo(HaveOccurred())
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	g.Expect(names("pay")).To(Equal([]string{"a-everyone", "payments"}))
	g.Expect(names("web")).To(Equal([]string{"a-everyone"}))
	g.Expect(names("gone")).To(BeEmpty())
	ps, err := (*Reader)(nil).For(context.Background(), "pay")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ps).To(BeEmpty())
}
