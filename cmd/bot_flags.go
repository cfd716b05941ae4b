package main

import (
	"flag"

	"github.com/teams-operator/teams-operator/internal/botendpoint"
)

// botFlags are the flags of the bot's messaging endpoint (docs/bot-endpoint.md).
type botFlags struct {
	server            botendpoint.ServerOptions
	openIDMetadataURL string
}

func (b *botFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&b.server.BindAddress, "bot-endpoint-bind-address", "0",
		"The address the bot's messaging endpoint (/api/messages) binds to, e.g. :3978; 0 turns it off.")
	fs.StringVar(&b.server.CertDir, "bot-endpoint-cert-path", "",
		"Directory with the endpoint's TLS certificate (reloaded when it changes); empty: plain HTTP (only behind a "+
			"TLS-terminating ingress).")
	fs.StringVar(&b.server.CertName, "bot-endpoint-cert-name", "tls.crt", "The endpoint's certificate file name.")
	fs.StringVar(&b.server.KeyName, "bot-endpoint-cert-key", "tls.key", "The endpoint's key file name.")
	fs.StringVar(&b.openIDMetadataURL, "bot-openid-metadata-url", "",
		"The Bot Connector's OpenID metadata URL, whose keys sign the requests to the endpoint; empty: the cloud's.")
}

func (b *botFlags) serverOptions(enableHTTP2 bool) botendpoint.ServerOptions {
	o := b.server
	o.EnableHTTP2 = enableHTTP2
	return o
}
