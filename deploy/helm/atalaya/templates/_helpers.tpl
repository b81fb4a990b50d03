{{- define "atalaya.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "atalaya.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "atalaya.labels" -}}
app.kubernetes.io/name: {{ include "atalaya.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "atalaya.selector" -}}
app.kubernetes.io/name: {{ include "atalaya.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "atalaya.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "atalaya.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "atalaya.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Environment shared by the server and the migration Job: secrets by reference. */}}
{{- define "atalaya.env" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.postgres.urlSecret.name | quote }}, key: {{ .Values.postgres.urlSecret.key | quote }}}
- name: REDIS_URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.redis.urlSecret.name | quote }}, key: {{ .Values.redis.urlSecret.key | quote }}}
{{- if .Values.auth.adminKeySecret.name }}
- name: ATALAYA_ADMIN_KEY
  valueFrom:
    secretKeyRef: {name: {{ .Values.auth.adminKeySecret.name | quote }}, key: {{ .Values.auth.adminKeySecret.key | quote }}, optional: true}
{{- end }}
{{- if .Values.audit.signingKeySecret.name }}
- name: ATALAYA_AUDIT_SIGNING_KEY
  valueFrom:
    secretKeyRef: {name: {{ .Values.audit.signingKeySecret.name | quote }}, key: {{ .Values.audit.signingKeySecret.key | quote }}}
{{- end }}
{{- if .Values.encryption.masterKeySecret.name }}
- name: ATALAYA_MASTER_KEY
  valueFrom:
    secretKeyRef: {name: {{ .Values.encryption.masterKeySecret.name | quote }}, key: {{ .Values.encryption.masterKeySecret.key | quote }}}
{{- end }}
{{- if .Values.metrics.keySecret.name }}
- name: ATALAYA_METRICS_KEY
  valueFrom:
    secretKeyRef: {name: {{ .Values.metrics.keySecret.name | quote }}, key: {{ .Values.metrics.keySecret.key | quote }}}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "atalaya.terminationGrace" -}}
{{- add (div .Values.server.shutdownGraceMs 1000) .Values.server.preStopSeconds 10 -}}
{{- end -}}
