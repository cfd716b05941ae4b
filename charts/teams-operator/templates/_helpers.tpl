{{/* Chart name, truncated to 63 characters. */}}
{{- define "teams-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, with the chart name appended unless already in it. */}}
{{- define "teams-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "teams-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "teams-operator.labels" -}}
helm.sh/chart: {{ include "teams-operator.chart" . }}
{{ include "teams-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: teams-operator
{{- end }}

{{/* Labels selecting the manager pods. */}}
{{- define "teams-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "teams-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "teams-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "teams-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "teams-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Name of the default credentials Secret, empty when there is none. */}}
{{- define "teams-operator.credentialsSecretName" -}}
{{- if .Values.defaultCredentials.create }}
{{- default (printf "%s-credentials" (include "teams-operator.fullname" .)) .Values.defaultCredentials.secretName }}
{{- else }}
{{- .Values.defaultCredentials.secretName }}
{{- end }}
{{- end }}

{{/* NAMESPACE/NAME for --default-credentials, empty when there is none. */}}
{{- define "teams-operator.defaultCredentials" -}}
{{- $name := include "teams-operator.credentialsSecretName" . }}
{{- if $name }}
{{- $ns := .Release.Namespace }}
{{- if and (not .Values.defaultCredentials.create) .Values.defaultCredentials.namespace }}
{{- $ns = .Values.defaultCredentials.namespace }}
{{- end }}
{{- printf "%s/%s" $ns $name }}
{{- end }}
{{- end }}

{{/* Checks that the schema cannot express. */}}
{{- define "teams-operator.validate" -}}
{{- if and .Values.alertmanager.enabled .Values.metrics.enabled (eq (int .Values.alertmanager.port) (int .Values.metrics.port)) }}
{{- fail "alertmanager.port must differ from metrics.port" }}
{{- end }}
{{- with .Values.alertmanager }}
{{- if and .enabled (not .tls.secretName) (not $.Values.networkPolicy.enabled) (not .allowInsecure) }}
{{- fail "alertmanager: the receiver takes bearer tokens; serve TLS (alertmanager.tls.secretName) or enable networkPolicy (so only networkPolicy.alertmanagerFrom reaches it), or set alertmanager.allowInsecure=true" }}
{{- end }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 requires leaderElection.enabled: every replica would reconcile and send each message" }}
{{- end }}
{{- $c := .Values.defaultCredentials }}
{{- if $c.create }}
{{- if or (not $c.tenantId) (not $c.clientId) }}
{{- fail "defaultCredentials.create: tenantId and clientId are required" }}
{{- end }}
{{- if and $c.clientSecret (or $c.tlsCrt $c.tlsKey) }}
{{- fail "defaultCredentials: set clientSecret or tlsCrt + tlsKey, not both" }}
{{- end }}
{{- if ne (empty $c.tlsCrt) (empty $c.tlsKey) }}
{{- fail "defaultCredentials: tlsCrt and tlsKey go together" }}
{{- end }}
{{- if and (not $c.clientSecret) (not $c.tlsCrt) (not .Values.workloadIdentity.enabled) }}
{{- fail "defaultCredentials.create: set clientSecret, or tlsCrt + tlsKey, or enable workloadIdentity" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
"true" when the metrics endpoint serves the certificate of metrics.tls.secretName, else empty.
*/}}
{{- define "teams-operator.metricsTLS" -}}
{{- if and .Values.metrics.enabled .Values.metrics.secure .Values.metrics.tls.secretName }}true{{ end }}
{{- end }}

{{/*
The namespaces whose Secrets the manager may read (secretAccess.namespaces), with the release namespace and the
default credentials' namespace, sorted and comma-separated; empty when Secrets are not narrowed.
*/}}
{{- define "teams-operator.secretNamespaces" -}}
{{- with .Values.secretAccess.namespaces }}
{{- $ns := concat . (list $.Release.Namespace) }}
{{- with $.Values.defaultCredentials.namespace }}
{{- $ns = append $ns . }}
{{- end }}
{{- $ns | uniq | sortAlpha | join "," }}
{{- end }}
{{- end }}

{{/*
The Secret with the delivery-proof key (deliveryProof); empty when none is used.
*/}}
{{- define "teams-operator.deliveryProofSecret" -}}
{{- if .Values.deliveryProof.secretName }}
{{- .Values.deliveryProof.secretName }}
{{- else if .Values.deliveryProof.create }}
{{- printf "%s-delivery-proof" (include "teams-operator.fullname" .) }}
{{- end }}
{{- end }}
