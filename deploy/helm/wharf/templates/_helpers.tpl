{{/* The release's full name, at most 63 characters. */}}
{{- define "wharf.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "wharf.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wharf.labels" -}}
{{ include "wharf.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "wharf.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "wharf.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The number of pods: one in single mode. */}}
{{- define "wharf.replicas" -}}
{{- if eq .Values.mode "single" -}}1{{- else -}}{{ .Values.replicaCount }}{{- end -}}
{{- end -}}

{{/*
The configuration file: the mode's stores, then .Values.config merged over
it. Secrets are not in it; they come from the environment (see the
Deployment).
*/}}
{{- define "wharf.config" -}}
{{- $c := dict
  "http" (dict "addr" ":5000" "shutdownTimeout" .Values.shutdownTimeout)
  "log" .Values.log
  "auth" (dict "enabled" .Values.auth.enabled)
-}}
{{- if .Values.auth.realm -}}
{{- $_ := set $c.auth "realm" .Values.auth.realm -}}
{{- end -}}
{{- if eq .Values.mode "single" -}}
{{- $_ := set $c "dataDir" "/var/lib/wharf" -}}
{{- $_ := set $c "storage" (dict "driver" "fs") -}}
{{- $_ := set $c "database" (dict "driver" "sqlite") -}}
{{- else -}}
{{- $s3 := dict "endpoint" .Values.s3.endpoint "region" .Values.s3.region "bucket" .Values.s3.bucket "prefix" .Values.s3.prefix "pathStyle" .Values.s3.pathStyle "redirect" .Values.s3.redirect -}}
{{- $_ := set $c "storage" (dict "driver" "s3" "s3" $s3) -}}
{{- $_ := set $c "database" (dict "driver" "postgres" "postgres" (dict "maxConns" .Values.postgres.maxConns)) -}}
{{- end -}}
{{- toYaml (mustMergeOverwrite $c (deepCopy .Values.config)) -}}
{{- end -}}

{{/* Refuse values that cannot work, with a message naming the value. */}}
{{- define "wharf.validate" -}}
{{- if not (has .Values.mode (list "single" "replicas")) -}}
{{- fail (printf "mode must be single or replicas, not %q" .Values.mode) -}}
{{- end -}}
{{- if eq .Values.mode "replicas" -}}
{{- if not .Values.postgres.urlSecret.name -}}
{{- fail "replicas mode needs PostgreSQL: set postgres.urlSecret.name to an existing secret holding the connection URL" -}}
{{- end -}}
{{- if not .Values.s3.bucket -}}
{{- fail "replicas mode needs a bucket: set s3.bucket" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.ingress.enabled .Values.ingress.tls.enabled (not .Values.ingress.tls.secretName) -}}
{{- fail "ingress.tls.enabled needs ingress.tls.secretName" -}}
{{- end -}}
{{- end -}}
