package broadcast

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestRecordsRoundTripAndStaySmall(t *testing.T) {
	g := NewWithT(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	id := func(n int) string { // random, so incompressible, like Teams' opaque ids
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	people := make([]Person, ChunkSize)
	for i := range people {
		people[i] = Person{
			User:  fmt.Sprintf("%08x-0d76-42f6-aef3-%012x", rnd.Uint32(), rnd.Uint64()>>16),
			State: Delivered, Conversation: "a:1" + id(32), Activity: fmt.Sprintf("17957264%05d", i),
		}
	}
	people[3].State, people[3].Reason = Skipped, ReasonBlockedByUser
	data, err := Encode(people)
	g.Expect(err).NotTo(HaveOccurred())
	t.Logf("a chunk of %d people with Teams-sized ids: %d bytes compressed", ChunkSize, len(data))
	g.Expect(len(data)).To(BeNumerically("<", maxChunkBytes/2), "a chunk of Teams-sized ids stays well under the bound")
	back, err := Decode(data, maxDecodedBytes)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(back).To(Equal(people))

	c := Count(back)
	g.Expect(c.Delivered).To(Equal(ChunkSize - 1))
	g.Expect(c.Reasons).To(HaveKeyWithValue("Skipped/BlockedByUser", 1))
	parsed, err := ParseCounts(c.String())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(parsed).To(Equal(c))
}

func TestRecordsRefuseBadInput(t *testing.T) {
	g := NewWithT(t)
	_, err := Encode([]Person{{User: "a\tb", State: Pending}})
	g.Expect(err).To(HaveOccurred())
	data, err := Encode([]Person{{User: strings.Repeat("x", 2000), State: Pending}})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = Decode(data, maxDecodedBytes)
	g.Expect(err).To(MatchError(ContainSubstring("too long")))
	_, err = Decode(data, 100)
	g.Expect(err).To(MatchError(ContainSubstring("larger than allowed")))
	_, err = Decode([]byte("not gzip"), maxDecodedBytes)
	g.Expect(err).To(HaveOccurred())
	_, err = ParseCounts("d=1,zz=2")
	g.Expect(err).To(HaveOccurred())
}
