package botendpoint

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/teams-operator/teams-operator/internal/botframework"
	"github.com/teams-operator/teams-operator/internal/emulator"
)

type collected struct {
	mu   sync.Mutex
	acts []Activity
}

func (c *collected) HandleActivity(_ context.Context, a *Activity) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.acts = append(c.acts, *a)
	return true, nil
}

func (c *collected) all() []Activity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Activity(nil), c.acts...)
}

// TestEmulatorActivities: the emulator, playing the Bot Connector over TLS, publishes its keys
// and signs what users do; the endpoint accepts exactly that and passes it on.
func TestEmulatorActivities(t *testing.T) {
	g := NewWithT(t)
	emu, err := emulator.New(nil, emulator.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	emuSrv, err := emu.StartTLS("127.0.0.1:0", "")
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = emuSrv.Close() })

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsTrusting(emuSrv.RootCAs)}}
	v, err := NewVerifier(VerifierOptions{
		MetadataURL: emuSrv.URL + emulator.BotOpenIDMetadataPath, Issuer: "https://api.botframework.com", HTTPClient: hc,
		Bots: knownBots{emulator.DefaultBotAppID: true}, Policy: botframework.NewServiceURLPolicy([]string{emuSrv.URL}),
	})
	g.Expect(err).NotTo(HaveOccurred())
	got := &collected{}
	reg := NewRegistry()
	for _, typ := range []string{TypeMessage, TypeInstallationUpdate, TypeConversationUpdate} {
		reg.HandleActivity(typ, got)
	}
	bot := httptest.NewTLSServer(NewHandler(HandlerOptions{Auth: v, Registry: reg}))
	t.Cleanup(bot.Close)
	emu.SetBotEndpoint(emulator.BotEndpoint{URL: bot.URL + Path, RootCAs: certPool(bot), ServiceURL: emuSrv.URL + "/teams/"})

	ctx := context.Background()
	answers, err := emu.Act(ctx, emulator.UserAction{Kind: emulator.ActMessage, User: emulator.DefaultUserAdeleUPN, Text: "stop"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(answers).To(HaveLen(1))
	g.Expect(answers[0].Status).To(Equal(http.StatusOK))

	answers, err = emu.Act(ctx, emulator.UserAction{Kind: emulator.ActInstall, User: emulator.DefaultUserAlexID,
		TeamsAppID: emulator.DefaultTeamsAppID})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(answers).To(HaveLen(2))

	acts := got.all()
	g.Expect(acts).To(HaveLen(3))
	g.Expect(acts[0].Text).To(Equal("stop"))
	g.Expect(acts[0].From.AADObjectID).To(Equal(emulator.DefaultUserAdeleID))
	g.Expect(acts[0].BotAppID()).To(Equal(emulator.DefaultBotAppID))
	g.Expect(acts[0].TenantID()).To(Equal(emulator.DefaultTenantID))
	g.Expect(acts[0].Conversation.ConversationType).To(Equal(ConversationPersonal))
	g.Expect(acts[1].Type).To(Equal(TypeInstallationUpdate))
	g.Expect(acts[1].Action).To(Equal("add"))
	g.Expect(acts[2].Type).To(Equal(TypeConversationUpdate))
	g.Expect(acts[2].MembersAdded).To(ContainElement(HaveField("ID", "28:"+emulator.DefaultBotAppID)))
}

func tlsTrusting(pool *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func certPool(s *httptest.Server) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.Certificate())
	return p
}
