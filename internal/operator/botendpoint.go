package operator

import (
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/teams-operator/teams-operator/internal/botendpoint"
	"github.com/teams-operator/teams-operator/internal/controller"
	"github.com/teams-operator/teams-operator/internal/optout"
)

// setupBotEndpoint adds the bot's messaging endpoint (off unless opts.BotEndpoint.BindAddress
// is set) and registers the operator's activity handlers. Handlers of other features are
// registered here too: registry.HandleInvoke("adaptiveCard/action", ...).
func setupBotEndpoint(mgr ctrl.Manager, opts Options, factory *controller.SecretClientFactory,
	optOuts *optout.Store) (*botendpoint.Registry, error) {
	registry := botendpoint.NewRegistry()
	if !opts.BotEndpoint.Enabled() {
		return registry, nil
	}
	dir := &botendpoint.Directory{Reader: mgr.GetClient(), Clients: factory}
	installs := &botendpoint.Installs{Client: mgr.GetClient(), Directory: dir, Recorder: mgr.GetEventRecorder("bot-endpoint")}
	registry.HandleActivity(botendpoint.TypeInstallationUpdate, installs)
	registry.HandleActivity(botendpoint.TypeConversationUpdate, installs)
	if optOuts != nil {
		registry.HandleActivity(botendpoint.TypeMessage, &botendpoint.OptOuts{
			Store: optOuts, Replier: &botendpoint.ConnectorReplier{Directory: dir},
			OptOut: orDefault(opts.OptOut.OptOutKeywords, botendpoint.DefaultOptOutKeywords),
			OptIn:  orDefault(opts.OptOut.OptInKeywords, botendpoint.DefaultOptInKeywords),
			Log:    ctrl.Log.WithName("bot-endpoint").WithName("opt-out"),
		})
	}
	_, err := botendpoint.AddToManager(mgr, botendpoint.Options{
		Server:      opts.BotEndpoint,
		MetadataURL: opts.Endpoints.BotOpenIDMetadataURL,
		Issuer:      opts.Endpoints.BotTokenIssuer,
		HTTPClient:  factory.HTTPClient,
		Policy:      factory.Policy,
		Directory:   dir,
		Registry:    registry,
	})
	return registry, err
}

func orDefault(words, def []string) []string {
	if len(words) == 0 {
		return def
	}
	return words
}
