{{/*
Chart name, used for app.kubernetes.io/name.
*/}}
{{- define "preview-app.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Resource name: the release name (previewbot names the release ENV), or
fullnameOverride. Service names must be DNS-1035 labels (start with a
letter), so a name starting with a digit gets an "app-" prefix. Release
names are at most 53 characters, so the prefixed name still fits in 63.
*/}}
{{- define "preview-app.fullname" -}}
{{- $name := default .Release.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- if regexMatch "^[a-z]" $name }}
{{- $name }}
{{- else }}
{{- printf "app-%s" $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
helm.sh/chart label value.
*/}}
{{- define "preview-app.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels (immutable on a Deployment: name + instance only).
*/}}
{{- define "preview-app.selectorLabels" -}}
app.kubernetes.io/name: {{ include "preview-app.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "preview-app.labels" -}}
helm.sh/chart: {{ include "preview-app.chart" . | quote }}
{{ include "preview-app.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
previewbot/env: {{ .Values.preview.env | quote }}
{{- end }}

{{/*
previewbot annotations. Every value is user data (a branch name may hold any
character) and is emitted only through `quote`, which produces a
double-quoted scalar with all specials escaped; it is never evaluated.
Control and line/paragraph-separator characters are replaced by "?" first:
Helm 4's server-side apply re-encodes the manifest and then rejects them
("yaml: control characters are not allowed"). The exact branch stays on the
namespace annotation previewbot writes through the API.
*/}}
{{- define "preview-app.text" -}}
{{- regexReplaceAll "[\\p{Cc}\\p{Zl}\\p{Zp}]" (. | default "" | toString) "?" | quote -}}
{{- end }}

{{- define "preview-app.previewAnnotations" -}}
previewbot/env: {{ include "preview-app.text" .Values.preview.env }}
previewbot/project-path: {{ include "preview-app.text" .Values.preview.project }}
previewbot/branch: {{ include "preview-app.text" .Values.preview.branch }}
previewbot/sha: {{ include "preview-app.text" .Values.preview.sha }}
{{- with .Values.preview.mrIid }}
previewbot/mr-iid: {{ include "preview-app.text" . }}
{{- end }}
{{- with .Values.preview.mrUrl }}
previewbot/mr-url: {{ include "preview-app.text" . }}
{{- end }}
{{- end }}

{{/*
The overlay selected by .Values.overlay (a map), or fail with a clear message.
*/}}
{{- define "preview-app.overlay" -}}
{{- $overlays := .Values.overlays | default dict }}
{{- $o := get $overlays (toString .Values.overlay) }}
{{- if not (kindIs "map" $o) }}
{{- fail (printf "overlay %q is not defined under .Values.overlays" (toString .Values.overlay)) }}
{{- end }}
{{- toYaml $o }}
{{- end }}

{{/*
Effective replica count: .Values.replicaCount when set (0 included), else the
overlay's, else 1.
*/}}
{{- define "preview-app.replicas" -}}
{{- $r := get .Values "replicaCount" }}
{{- if or (kindIs "invalid" $r) (eq (toString $r) "") }}
{{- $o := include "preview-app.overlay" . | fromYaml }}
{{- $r = get $o "replicaCount" }}
{{- end }}
{{- if or (kindIs "invalid" $r) (eq (toString $r) "") }}
{{- $r = 1 }}
{{- end }}
{{- $r | int }}
{{- end }}

{{/*
Effective resources: .Values.resources when non-empty, else the overlay's.
*/}}
{{- define "preview-app.resources" -}}
{{- $res := get .Values "resources" }}
{{- if empty $res }}
{{- $o := include "preview-app.overlay" . | fromYaml }}
{{- $res = get $o "resources" }}
{{- end }}
{{- toYaml ($res | default dict) }}
{{- end }}

{{/*
Container image reference.
*/}}
{{- define "preview-app.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default "latest") }}
{{- end }}
{{- end }}

{{/*
In-cluster FQDN of the Service.
*/}}
{{- define "preview-app.serviceFQDN" -}}
{{- printf "%s.%s.svc.%s" (include "preview-app.fullname" .) .Release.Namespace (.Values.clusterDomain | default "cluster.local") }}
{{- end }}
