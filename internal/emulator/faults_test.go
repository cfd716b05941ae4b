package emulator

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestErrorFaults(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	v.install(ScopeUser, DefaultUserAdeleID)
	tok, gtok := v.botToken(), v.graphToken()
	id := v.do("POST", "/teams/v3/conversations", tok, personalParams(DefaultUserAdeleID)).str("id")

	t.Run("count, Connector shape", func(t *testing.T) {
		g := NewWithT(t)
		fid := v.e.AddFault(Fault{API: "botframework", Operation: "sendActivity", Status: 503, RetryAfter: "1.5", Count: 2})
		g.Expect(fid).NotTo(BeEmpty())
		for range 2 {
			r := v.do("POST", conv(id), tok, text("x"))
			g.Expect(r.status).To(Equal(503))
			g.Expect(r.header.Get("Retry-After")).To(Equal("1.5"))
			g.Expect(r.str("error", "code")).To(Equal("ServiceUnavailable"))
			g.Expect(r.header.Get("X-Correlating-OperationId")).NotTo(BeEmpty())
		}
		g.Expect(v.do("POST", conv(id), tok, text("x")).status).To(Equal(201))
		g.Expect(v.e.Faults()).To(BeEmpty())
		// The failed sends stored nothing.
		g.Expect(v.e.ConversationActivities(id)).To(HaveLen(1))
	})

	t.Run("Graph 429 with a fractional Retry-After", func(t *testing.T) {
		g := NewWithT(t)
		v.e.AddFault(Fault{API: "graph", Operation: "getUser", Status: 429, RetryAfter: "2.128", Count: 1})
		r := v.do("GET", "/v1.0/users/"+DefaultUserAdeleID, gtok, nil)
		g.Expect(r.status).To(Equal(429))
		g.Expect(r.header.Get("Retry-After")).To(Equal("2.128"))
		g.Expect(r.str("error", "code")).To(Equal("TooManyRequests"))
		g.Expect(r.str("error", "innerError", "status")).To(Equal("429"))
		g.Expect(r.str("error", "innerError", "request-id")).To(Equal(r.header.Get("request-id")))
		g.Expect(v.do("GET", "/v1.0/users/"+DefaultUserAdeleID, gtok, nil).status).To(Equal(200))
	})

	t.Run("duration: token endpoint down for a minute", func(t *testing.T) {
		g := NewWithT(t)
		v.e.AddFault(Fault{API: "entra", Operation: "token", Status: 503, Duration: time.Minute})
		r := v.tokenRequest(DefaultTenantID, secretForm(DefaultBotAppID, DefaultBotSecret, botScope))
		g.Expect(r.status).To(Equal(503))
		g.Expect(r.str("error")).To(Equal("temporarily_unavailable"))
		v.clock.Advance(59 * time.Second)
		g.Expect(v.tokenRequest(DefaultTenantID, secretForm(DefaultBotAppID, DefaultBotSecret, botScope)).status).To(Equal(503))
		v.clock.Advance(time.Second)
		g.Expect(v.tokenRequest(DefaultTenantID, secretForm(DefaultBotAppID, DefaultBotSecret, botScope)).status).To(Equal(200))
	})

	t.Run("method and path match, custom body", func(t *testing.T) {
		g := NewWithT(t)
		v.e.AddFault(Fault{Method: "GET", PathContains: DefaultUserMeganID, Status: 500, Body: `{"error":{"code":"ServiceError","message":"Unknown"}}`})
		g.Expect(v.do("GET", "/v1.0/users/"+DefaultUserAdeleID, gtok, nil).status).To(Equal(200))
		r := v.do("GET", "/v1.0/users/"+DefaultUserMeganID, gtok, nil)
		g.Expect(r.status).To(Equal(500))
		g.Expect(string(r.raw)).To(MatchJSON(`{"error":{"code":"ServiceError","message":"Unknown"}}`))
		v.e.ClearFaults()
		g.Expect(v.do("GET", "/v1.0/users/"+DefaultUserMeganID, gtok, nil).status).To(Equal(200))
	})

	t.Run("invalid faults", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(v.e.AddFault(Fault{Status: 200})).To(BeEmpty())
		g.Expect(v.e.AddFault(Fault{API: "smtp", Status: 500})).To(BeEmpty())
		g.Expect(v.e.AddFault(Fault{Action: FaultLatency})).To(BeEmpty())
	})
	g.Expect(v.e.Requests()).NotTo(BeEmpty())
}

func TestLatencyFault(t *testing.T) {
	v := newEnv(t, Options{})
	g := NewWithT(t)
	tok := v.graphToken()
	v.e.AddFault(Fault{Operation: "getUser", Latency: 150 * time.Millisecond, Count: 1})
	start := time.Now()
	g.Expect(v.do("GET", "/v1.0/users/"+DefaultUserAdeleID, tok, nil).status).To(Equal(200))
	g.Expect(time.Since(start)).To(BeNumerically(">=", 150*time.Millisecond))
	start = time.Now()
	g.Expect(v.do("GET", "/v1.0/users/"+DefaultUserAdeleID, tok, nil).status).To(Equal(200))
	g.Expect(time.Since(start)).To(BeNumerically("<", 150*time.Millisecond))
}

func TestAcceptThenDrop(t *testing.T) {
	for name, http1 := range map[string]bool{"HTTP/2": false, "HTTP/1.1": true} {
		t.Run(name, func(t *testing.T) {
			v := newEnv(t, Options{})
			g := NewWithT(t)
			client := v.c
			if http1 {
				tr := http.DefaultTransport.(*http.Transport).Clone()
				tr.TLSClientConfig = &tls.Config{RootCAs: v.srv.RootCAs, MinVersion: tls.VersionTLS12}
				tr.Protocols = new(http.Protocols)
				tr.Protocols.SetHTTP1(true)
				client = &http.Client{Transport: tr}
				t.Cleanup(client.CloseIdleConnections)
			}
			v.install(ScopeUser, DefaultUserAdeleID)
			tok := v.botToken()
			id := v.do("POST", "/teams/v3/conversations", tok, personalParams(DefaultUserAdeleID)).str("id")
			v.e.AddFault(Fault{Operation: "sendActivity", Action: FaultAcceptThenDrop, Count: 1})

			body, _ := json.Marshal(text("maybe delivered"))
			req, _ := http.NewRequest("POST", v.srv.URL+conv(id), bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err == nil {
				_ = res.Body.Close()
				t.Fatalf("expected a connection error, got %s (proto %s)", res.Status, res.Proto)
			}
			// The message was accepted all the same.
			stored := v.e.ConversationActivities(id)
			g.Expect(stored).To(HaveLen(1))
			g.Expect(string(stored[0].Activity)).To(ContainSubstring("maybe delivered"))
			g.Eventually(func() []JournalEntry { return v.e.Requests() }).Should(ContainElement(And(
				HaveField("Operation", "sendActivity"), HaveField("Dropped", true), HaveField("Status", 201))))
			// The next send is served normally.
			g.Expect(v.do("POST", conv(id), tok, text("x")).status).To(Equal(201))
		})
	}
}
