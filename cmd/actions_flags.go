package main

import (
	"flag"

	"github.com/teams-operator/teams-operator/internal/alertmanager"
)

// actionsFlags are the flags of the Alertmanager card's buttons (docs/alertmanager.md).
type actionsFlags struct {
	apiSecret string
}

func (a *actionsFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&a.apiSecret, "alertmanager-api-secret", alertmanager.DefaultAPISecret,
		"Secret, in each namespace, naming the Alertmanager (url, ca.crt, credentials) the Alertmanager card's "+
			"Acknowledge and Silence buttons act on; the buttons exist only with the bot endpoint on.")
}
