package chart

import (
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
)

// TestHelmLint lints the chart strictly with its defaults and with every test value set.
func TestHelmLint(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "values-*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no value sets in testdata: %v", err)
	}
	sets := append([]string{""}, files...)
	for _, f := range sets {
		name := "defaults"
		if f != "" {
			name = filepath.Base(f)
		}
		t.Run(name, func(t *testing.T) {
			args := []string{"lint", "--strict", chartDir}
			if f != "" {
				args = append(args, "-f", f)
			}
			out, err := runHelm(t, args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// TestValuesRejected checks that values.schema.json and the chart's own checks refuse bad values with a message
// that names the problem.
func TestValuesRejected(t *testing.T) {
	cases := map[string]struct {
		set  []string
		want string
	}{
		"unknown cloud":                {set: []string{"cloud.name=Mars"}, want: "cloud.name"},
		"plain HTTP Graph endpoint":    {set: []string{"cloud.graphEndpoint=http://graph.microsoft.com"}, want: "graphEndpoint"},
		"user info in the authority":   {set: []string{"cloud.authorityHost=https://login.microsoftonline.com@evil.example"}, want: "authorityHost"},
		"plain HTTP bot service URL":   {set: []string{"cloud.botServiceUrl=http://smba.trafficmanager.net/teams/"}, want: "botServiceUrl"},
		"misspelt key":                 {set: []string{"clod.name=Public"}, want: "clod"},
		"zero send rate":               {set: []string{"rateLimits.maxSendRPS=0"}, want: "maxSendRPS"},
		"zero message workers":         {set: []string{"concurrency.messageWorkers=0"}, want: "messageWorkers"},
		"bad log encoder":              {set: []string{"logging.encoder=xml"}, want: "encoder"},
		"replicas without leader":      {set: []string{"replicaCount=2", "leaderElection.enabled=false"}, want: "requires leaderElection.enabled"},
		"created Secret without ids":   {set: []string{"defaultCredentials.create=true", "defaultCredentials.clientSecret=x"}, want: "tenantId"},
		"created Secret without proof": {set: []string{"defaultCredentials.create=true", "defaultCredentials.tenantId=t", "defaultCredentials.clientId=c"}, want: "set clientSecret"},
		"secret and certificate": {set: []string{"defaultCredentials.create=true", "defaultCredentials.tenantId=t",
			"defaultCredentials.clientId=c", "defaultCredentials.clientSecret=s", "defaultCredentials.tlsCrt=c",
			"defaultCredentials.tlsKey=k"}, want: "not both"},
		"invalid Secret name":         {set: []string{"defaultCredentials.secretName=Not_A_Name"}, want: "secretName"},
		"extra arg not a flag":        {set: []string{"extraArgs[0]=leader-elect"}, want: "extraArgs"},
		"metrics port too high":       {set: []string{"metrics.port=70000"}, want: "port"},
		"metrics on probe port":       {set: []string{"metrics.port=8081"}, want: "port"},
		"receiver on probe port":      {set: []string{"alertmanager.enabled=true", "alertmanager.port=8081"}, want: "port"},
		"receiver on metrics port":    {set: []string{"alertmanager.enabled=true", "alertmanager.port=8443"}, want: "alertmanager.port must differ from metrics.port"},
		"receiver TTL not a duration": {set: []string{"alertmanager.resolvedTTL=1 day"}, want: "resolvedTTL"},
		"receiver token Secret name":  {set: []string{"alertmanager.tokenSecretName=Bad_Name"}, want: "tokenSecretName"},
		"receiver TLS Secret name":    {set: []string{"alertmanager.tls.secretName=Bad_Name"}, want: "secretName"},
		"receiver person selector with a shell expansion": {set: []string{"alertmanager.personNamespaceSelector=team=$(id)"},
			want: "personNamespaceSelector"},
		"receiver in clear text, reachable by anyone": {set: []string{"alertmanager.enabled=true"},
			want: "serve TLS (alertmanager.tls.secretName) or enable networkPolicy"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := runHelm(t, valueSet{release: "teams-operator", namespace: "ns", set: tc.set}.args()...)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
}
