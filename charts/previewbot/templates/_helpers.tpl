{{/*
Chart name, used for app.kubernetes.io/name.
*/}}
{{- define "previewbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Name of every object: the release name, prefixed with the chart name unless it
already contains it. Cluster-scoped objects (ClusterRoles, the admission policy)
use it too, so a release name is unique per cluster.
*/}}
{{- define "previewbot.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "previewbot.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "previewbot.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "previewbot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "previewbot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "previewbot.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{- define "previewbot.labels" -}}
helm.sh/chart: {{ include "previewbot.chart" . | quote }}
{{ include "previewbot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/part-of: previewbot
{{- end }}

{{/*
The bot's service account.
*/}}
{{- define "previewbot.serviceAccountName" -}}
{{- default (include "previewbot.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/*
The user name the API server sees for the bot, as admission rules match it.
*/}}
{{- define "previewbot.username" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "previewbot.serviceAccountName" .) }}
{{- end }}

{{/*
The ClusterRole bound in each preview namespace by the bot's own RoleBinding.
*/}}
{{- define "previewbot.namespaceRole" -}}
{{- printf "%s-namespace" (include "previewbot.fullname" .) }}
{{- end }}

{{- define "previewbot.policyName" -}}
{{- printf "%s-guard" (include "previewbot.fullname" .) }}
{{- end }}

{{- define "previewbot.labelPolicyName" -}}
{{- printf "%s-labels" (include "previewbot.fullname" .) }}
{{- end }}

{{/*
This installation's name: the previewbot/instance label of its namespaces
(PREVIEWBOT_INSTANCE). Two installations in one cluster must differ.
*/}}
{{- define "previewbot.instance" -}}
{{- default (include "previewbot.fullname" .) .Values.instance | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The domains routes of previews may use (a JSON array): admissionPolicy.hostSuffixes,
else every `domain` of `config` (defaults and projects).
*/}}
{{- define "previewbot.hostSuffixes" -}}
{{- $found := list }}
{{- if .Values.admissionPolicy.hostSuffixes }}
{{- $found = .Values.admissionPolicy.hostSuffixes }}
{{- else if .Values.existingConfigMap }}
{{- fail "admissionPolicy.hostSuffixes is required with existingConfigMap: the preview domains (every `domain` of previewbot.yaml) that routes of previews may use" }}
{{- else }}
{{- $config := .Values.config | default dict }}
{{- with (($config.defaults | default dict).domain) }}{{ $found = append $found . }}{{ end }}
{{- range ($config.projects | default list) }}
{{- with .domain }}{{ $found = append $found . }}{{ end }}
{{- end }}
{{- end }}
{{- $found | uniq | toJson }}
{{- end }}

{{/*
The label keys the bot may set on a preview namespace (a JSON array, a CEL list too).
*/}}
{{- define "previewbot.namespaceLabelKeys" -}}
{{- list "app.kubernetes.io/managed-by" "previewbot/instance" "previewbot/env" "previewbot/project-id" "previewbot/mr-iid" "pod-security.kubernetes.io/enforce" "pod-security.kubernetes.io/warn" "kubernetes.io/metadata.name" | toJson }}
{{- end }}

{{- define "previewbot.configMapName" -}}
{{- default (printf "%s-config" (include "previewbot.fullname" .)) .Values.existingConfigMap }}
{{- end }}

{{- define "previewbot.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
The public paths: only GitLab's webhook and Slack's endpoint are routed from
outside; /metrics, /healthz and /readyz stay inside the cluster.
*/}}
{{- define "previewbot.publicPaths" -}}
- /webhooks/gitlab
- /slack/events
{{- end }}

{{/*
The Secrets the bot may read in its namespace (a JSON array): every `secret_values`
of `config` (defaults and projects), and secretValues.names.
*/}}
{{- define "previewbot.secretValuesNames" -}}
{{- $found := list }}
{{- range (.Values.secretValues.names | default list) }}{{ $found = append $found . }}{{ end }}
{{- if not .Values.existingConfigMap }}
{{- $config := .Values.config | default dict }}
{{- with (($config.defaults | default dict).secret_values) }}{{ $found = append $found . }}{{ end }}
{{- range ($config.projects | default list) }}
{{- with .secret_values }}{{ $found = append $found . }}{{ end }}
{{- end }}
{{- end }}
{{- $found | uniq | toJson }}
{{- end }}
