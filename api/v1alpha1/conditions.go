package v1alpha1

// Condition types. Ready is always present; Reconciling and Stalled are
// "abnormal-true" and present only while true (kstatus).
const (
	// ReadyCondition is True when the Microsoft side matches this generation of the spec.
	ReadyCondition = "Ready"
	// ReconcilingCondition is True while the operator is working towards Ready.
	ReconcilingCondition = "Reconciling"
	// StalledCondition is True when progress needs a change from a person (spec, Secret, permissions).
	StalledCondition = "Stalled"
)

// Condition reasons, shared by the three kinds. Each is explained for users in docs/troubleshooting.md.
const (
	SucceededReason            = "Succeeded"
	ProgressingReason          = "Progressing"
	ProgressingWithRetryReason = "ProgressingWithRetry"
	DependencyNotReadyReason   = "DependencyNotReady"
	CredentialsNotFoundReason  = "CredentialsNotFound"
	CredentialsInvalidReason   = "CredentialsInvalid"
	// CredentialsNotAllowedReason: the object would use credentials the manager holds (its default
	// credentials or workload identity) from a namespace the platform team did not allow.
	CredentialsNotAllowedReason = "CredentialsNotAllowed"
	AuthenticationFailedReason  = "AuthenticationFailed"
	InvalidSpecReason           = "InvalidSpec"
	ThrottledReason             = "Throttled"
	PermissionDeniedReason      = "PermissionDenied"
	ExternalNotFoundReason      = "ExternalNotFound"
	AdoptionConflictReason      = "AdoptionConflict"
	DeletingReason              = "Deleting"
	InternalErrorReason         = "InternalError"
	ServiceURLRefusedReason     = "ServiceURLRefused"

	// TeamsAppInstallation and ConversationTarget.
	AppNotFoundReason     = "AppNotFound"
	InstalledReason       = "Installed"
	BotNotInstalledReason = "BotNotInstalled"
	UserNotFoundReason    = "UserNotFound"
	BlockedByUserReason   = "BlockedByUser"
	BotDisabledReason     = "BotDisabledByAdmin"
	// AppNotInChannelReason: a private or shared channel whose enabled apps do not include
	// the bot's app; Teams takes a bot there only where its app was added to the channel.
	AppNotInChannelReason = "AppNotInChannel"

	// ProactiveMessage.
	ScheduledReason       = "Scheduled"
	SendingReason         = "Sending"
	DeliveredReason       = "Delivered"
	DeliveryUnknownReason = "DeliveryUnknown"
	ExpiredReason         = "Expired"
	MessageTooLargeReason = "MessageTooLarge"
	// InvalidCardReason: the Adaptive Card breaks a rule of what Teams renders (schema above
	// 1.5, an element or action Teams lacks, a mention not in the card); the message names the
	// JSON path.
	InvalidCardReason    = "InvalidCard"
	BotNotInRosterReason = "BotNotInRoster"
	ConversationNotFound = "ConversationNotFound"
	ReplyTargetNotReady  = "ReplyTargetNotReady"
	SendFailedReason     = "SendFailed"

	// ProactiveMessage: more terminal send failures, each with its own fix.
	MessageRejectedReason  = "MessageRejected"
	ServiceErrorReason     = "ServiceError"
	BotNotRegisteredReason = "BotNotRegistered"
	EditFailedReason       = "EditFailed"
	QueuedReason           = "Queued"
	// UntrustedAnnotationsReason: restored activity-id/conversation-id annotations without a valid
	// delivery proof were ignored: they may name another object's Teams message.
	UntrustedAnnotationsReason = "UntrustedAnnotations"
	// SendJournalUnavailableReason: the namespace's send journal (ConfigMaps
	// teams-operator-sends-<n>) could not be read or written, so the message is not sent yet.
	SendJournalUnavailableReason = "SendJournalUnavailable"

	// NotSupportedInCloudReason: the configured national cloud lacks a call the object needs
	// (Microsoft Teams API implementation differences in national clouds); refused before any call.
	NotSupportedInCloudReason = "NotSupportedInCloud"

	// Broadcasts (docs/broadcast.md).
	// SuspendedReason: spec.suspend holds a broadcast.
	SuspendedReason = "Suspended"
	// AudienceTooLargeReason: the audience has more people than audience.maxSize.
	AudienceTooLargeReason = "AudienceTooLarge"
	// AudienceNotFoundReason: the audience's team or group does not exist.
	AudienceNotFoundReason = "AudienceNotFound"
	// BroadcastLabel labels the ConfigMaps holding a broadcast's per-person outcomes; its value
	// is the ProactiveMessage's uid.
	BroadcastLabel = "teams.operator.dev/broadcast"

	// ReachRefusedReason: a ReachPolicy selecting the namespace does not allow the target's
	// team, channel, chat, person or conversation; the message names the policy.
	ReachRefusedReason = "ReachRefused"
	// AudienceRefusedReason: a broadcast's audience is larger than a ReachPolicy's maxAudience;
	// the message names the policy.
	AudienceRefusedReason = "AudienceRefused"
)

// The bot endpoint (docs/bot-endpoint.md): reasons of the events it records and of the
// opted-out ProactiveMessage.
const (
	// AppInstalledInTeamsReason (event): Teams told the bot it was installed where the object
	// points (installationUpdate or conversationUpdate); the object looks again at once.
	AppInstalledInTeamsReason = "AppInstalledInTeams"
	// AppRemovedInTeamsReason (event): Teams told the bot it was removed there.
	AppRemovedInTeamsReason = "AppRemovedInTeams"
	// RecipientOptedOutReason: a ProactiveMessage not sent because its recipient told the bot
	// to stop (phase OptedOut; Ready, since nothing is wrong).
	RecipientOptedOutReason = "RecipientOptedOut"
	// OptOutIgnoredReason (event): sent to an opted-out person because the message sets
	// spec.ignoreOptOut in a namespace allowed to.
	OptOutIgnoredReason = "OptOutIgnored"
	// WelcomeSentReason (event): the TeamsAppInstallation's welcome message was sent.
	WelcomeSentReason = "WelcomeSent"
	// WelcomeFailedReason (event): the welcome message could not be sent; it is not tried again.
	WelcomeFailedReason = "WelcomeFailed"
)

// BotActivityAnnotation is set by the bot endpoint on the objects an install or removal seen
// live affects (the activity's type, action and id), so the controller of any replica looks
// again at once instead of at its next poll.
const BotActivityAnnotation = "teams.operator.dev/bot-activity"

// WelcomeSentAnnotation is written on a TeamsAppInstallation before its welcome message is sent
// (the installation id): with it the welcome is never sent again, even when the status is lost
// (a crash before the status write, a restore from backup).
const WelcomeSentAnnotation = "teams.operator.dev/welcome-sent"

// Finalizer and annotation names.
const (
	// Finalizer holds an object until its external cleanup (uninstall, message delete) is done.
	Finalizer = "teams.operator.dev/finalizer"
	// SendAttemptAnnotation is written before a send POST; with no ActivityIDAnnotation it marks an unknown outcome.
	SendAttemptAnnotation = "teams.operator.dev/send-attempt"
	// ActivityIDAnnotation keeps the Teams activity id where backup and restore keep it (status is not restored).
	ActivityIDAnnotation = "teams.operator.dev/activity-id"
	// ConversationIDAnnotation keeps the conversation the activity id belongs to.
	ConversationIDAnnotation = "teams.operator.dev/conversation-id"
	// DeliveryProofAnnotation proves that the operator recorded the activity-id and conversation-id
	// annotations for this object (an HMAC with the manager's key); ids without it are not trusted.
	DeliveryProofAnnotation = "teams.operator.dev/delivery-proof"
	// CardDroppedAnnotation exists only in the manager's cache, never on the API server: the cache
	// dropped a card larger than Teams accepts (its value is the card's size in bytes), so a
	// namespace cannot fill the manager's memory with large cards. The message fails with
	// MessageTooLarge. Metadata patches are computed from the cached object, so they never carry it.
	CardDroppedAnnotation = "internal.teams.operator.dev/card-dropped-bytes"
)

// ConversationTarget Ready reasons; status.Notify turns each into a Normal event on the transition.
const (
	// ConversationCreatedReason: the 1:1 conversation with a user was created (or found) with the Connector.
	ConversationCreatedReason = "ConversationCreated"
	// ResolvedReason: a channel, chat, known conversation or installation's chat was resolved.
	ResolvedReason = "Resolved"
)

// Event reasons of Normal events that are not Ready transitions (those carry the condition's reason).
const (
	// AdoptedReason: an installation made outside the operator was adopted.
	AdoptedReason = "Adopted"
	// ReinstalledReason: an installation removed in Teams was installed again.
	ReinstalledReason = "Reinstalled"
	// UpgradedReason: an installation was moved to the catalog's version or the spec's permissions.
	UpgradedReason = "Upgraded"
	// UninstalledReason: the app was uninstalled on deletion.
	UninstalledReason = "Uninstalled"
	// NotUninstalledReason: a deleted object left an installation it had adopted (status.adopted).
	NotUninstalledReason = "NotUninstalled"
	// EditedReason: a delivered message was edited in place.
	EditedReason = "Edited"
)
