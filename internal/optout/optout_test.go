package optout

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

const (
	bot    = "F41B1632-b10d-445c-a564-1c769fa12d39"
	tenant = "0fa2f4ae-1ff7-4d7f-b4c2-c891c2d79a1b"
)

// TestStore: set, look up and clear; ids that are not GUID-like are refused; 100,000 people
// spread over the shards so none comes near a ConfigMap's 1 MiB.
func TestStore(t *testing.T) {
	g := NewWithT(t)
	c := fake.NewClientBuilder().Build()
	s := &Store{Namespace: "ops", Reader: c, Writer: c}
	ctx := context.Background()
	user := "A4FB8658-d325-407b-90c3-0dc8081a0868"

	changed, err := s.Set(ctx, bot, tenant, user, true)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(BeTrue())
	g.Expect(s.IsOptedOut(ctx, bot, tenant, user)).To(BeTrue())
	g.Expect(s.IsOptedOut(ctx, bot, tenant, "a4fb8658-d325-407b-90c3-0dc8081a0868")).To(BeTrue(), "ids match case-insensitively")
	g.Expect(s.IsOptedOut(ctx, "00000000-0000-0000-0000-000000000000", tenant, user)).To(BeFalse(), "per bot")
	g.Expect(s.IsOptedOut(ctx, bot, "11111111-0000-0000-0000-000000000000", user)).To(BeFalse(), "per tenant")
	changed, err = s.Set(ctx, bot, tenant, user, true)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(BeFalse())

	var list corev1.ConfigMapList
	g.Expect(c.List(ctx, &list, client.MatchingLabels{LabelOptOut: "true", LabelBot: "f41b1632-b10d-445c-a564-1c769fa12d39"})).To(Succeed())
	g.Expect(list.Items).To(HaveLen(1))

	changed, err = s.Set(ctx, bot, tenant, user, false)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(BeTrue())
	g.Expect(s.IsOptedOut(ctx, bot, tenant, user)).To(BeFalse())
	_, err = s.Set(ctx, "00000000-0000-0000-0000-000000000000", tenant, user, false)
	g.Expect(err).NotTo(HaveOccurred(), "opting in where nothing was recorded")

	for _, bad := range []string{"", "../x", "a.b", "29:1abc", "x/y"} {
		_, err := s.Set(ctx, bot, tenant, bad, true)
		g.Expect(err).To(MatchError(ErrInvalidID), bad)
	}

	perShard := map[string]int{}
	for i := range 100000 {
		k, _ := entryKey(tenant, fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i))
		perShard[ShardName(bot, k)]++
	}
	g.Expect(perShard).To(HaveLen(Shards))
	for name, n := range perShard {
		g.Expect(n*100).To(BeNumerically("<", 512<<10), "%s holds %d people", name, n)
	}
}
