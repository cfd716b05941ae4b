package alertmanager

// builtinSamples are the bodies a template ConfigMap is checked with when it has no sample.json
// of its own (templatecheck.go): one per source, each as the source's documentation prints it.
var builtinSamples = map[string]string{
	// Alertmanager's webhook body (version 4) with the fields
	// https://prometheus.io/docs/alerting/latest/configuration/#webhook_config lists.
	SourceAlertmanager: `{
  "version": "4", "groupKey": "{}:{alertname=\"HighLatency\"}", "truncatedAlerts": 0, "status": "firing",
  "receiver": "teams", "groupLabels": {"alertname": "HighLatency"},
  "commonLabels": {"alertname": "HighLatency", "severity": "critical", "team": "web"},
  "commonAnnotations": {"summary": "High request latency"}, "externalURL": "http://alertmanager.example:9093",
  "alerts": [{"status": "firing", "labels": {"alertname": "HighLatency", "severity": "critical", "team": "web", "instance": "web-1:8080"},
    "annotations": {"summary": "High request latency", "description": "p99 latency is 2.1s on web-1"},
    "startsAt": "2024-05-02T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://prometheus.example:9090/graph?g0.expr=latency", "fingerprint": "c6eadffa33fcdf37"}]
}`,
	// Grafana's webhook notifier example ("Webhook JSON payload",
	// https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/),
	// its second alert.
	SourceGrafana: `{
  "receiver": "My Super Webhook", "status": "firing", "orgId": 1,
  "alerts": [{"status": "firing", "labels": {"alertname": "High CPU usage", "team": "blue", "zone": "eu-1"},
    "annotations": {"description": "The system has high CPU usage", "runbook_url": "https://myrunbook.com/runbook/1234",
      "summary": "This alert was triggered for zone eu-1"},
    "startsAt": "2021-10-12T09:56:03.157076+02:00", "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "https://play.grafana.org/alerting/d1rdpdv7k/edit", "fingerprint": "bc97ff14869b13e3",
    "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT1%2Cteam%3Dblue%2Czone%3Deu-1",
    "dashboardURL": "https://play.grafana.org/d/monitoring", "panelURL": "https://play.grafana.org/d/monitoring?viewPanel=1",
    "values": {"B": 44.23943737541908, "C": 1}}],
  "groupLabels": {}, "commonLabels": {"team": "blue"}, "commonAnnotations": {}, "externalURL": "https://play.grafana.org/",
  "version": "1", "groupKey": "{}:{}", "truncatedAlerts": 0, "title": "[FIRING:1]  (blue)", "state": "alerting",
  "message": "**Firing**\n\nLabels:\n - alertname = High CPU usage\n"
}`,
	// The generic webhook body of Flux's Provider documentation
	// (https://fluxcd.io/flux/components/notification/providers/#generic-webhook).
	SourceFlux: `{
  "involvedObject": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "name": "webapp",
    "namespace": "apps", "uid": "7d0cdc51-ddcf-4743-b223-83ca5c699632"},
  "metadata": {"kustomize.toolkit.fluxcd.io/revision": "main/731f7eaddfb6af01cb2173e18f0f75b0ba780ef1"},
  "severity": "error", "reason": "ValidationFailed",
  "message": "service/apps/webapp validation error: spec.type: Unsupported value: Ingress",
  "reportingController": "kustomize-controller", "reportingInstance": "kustomize-controller-7c7b47f5f-8bhrp",
  "timestamp": "2022-10-28T07:26:19Z"
}`,
	// What docs/sources.md's Argo CD template renders for Argo CD's guestbook Application
	// (https://argo-cd.readthedocs.io/en/stable/getting_started/) after a sync.
	SourceArgoCD: `{
  "version": "1", "app": "guestbook", "appNamespace": "argocd", "project": "default",
  "revision": "53e28ff20cc530b9ada2173fbbd64d48338583ba", "phase": "Succeeded",
  "message": "successfully synced (all tasks run)", "syncStatus": "Synced", "healthStatus": "Healthy",
  "repoURL": "https://github.com/argoproj/argocd-example-apps.git",
  "url": "https://argocd.example.com/applications/argocd/guestbook"
}`,
	// Generic JSON has no shape of its own: without sample.json, the templates see an empty object.
	SourceGeneric: `{}`,
	// The example of the CloudEvents JSON event format
	// (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md, 3.1 "Example").
	SourceCloudEvents: `{
  "specversion": "1.0", "type": "com.github.pull_request.opened", "source": "https://github.com/cloudevents/spec/pull",
  "subject": "123", "id": "A234-1234-1234", "time": "2018-04-05T17:31:00Z", "comexampleextension1": "value",
  "comexampleothervalue": 5, "datacontenttype": "text/xml", "data": "<much wow=\"xml\"/>"
}`,
}
