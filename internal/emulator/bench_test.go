package emulator

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSendParallel measures sends over HTTPS into many conversations.
func BenchmarkSendParallel(b *testing.B) {
	const users = 200
	seed := DefaultSeed()
	ids := make([]string, users)
	for i := range users {
		ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		seed.Tenants[0].Users = append(seed.Tenants[0].Users, UserSeed{
			ID: ids[i], UserPrincipalName: fmt.Sprintf("user%d@%s", i, DefaultTenantDomain), InstalledApps: []string{DefaultTeamsAppID},
		})
	}
	v := newEnvSeed(b, seed, Options{AppRPS: 1 << 30, ConversationLimits: []Limit{{Count: 1 << 20, Window: time.Second}}})
	tok := v.botToken()
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			c := PersonalConversationID(DefaultBotAppID, ids[i%users])
			if st := v.doQuiet("POST", conv(c), tok, text("bench")); st != 201 {
				b.Errorf("status %d", st)
				return
			}
		}
	})
}
