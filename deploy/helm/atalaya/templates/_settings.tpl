{{/* The settings the chart owns, as ATALAYA__SECTION__KEY variables (they win over the
     file): where to listen, storage on Postgres, limits on Redis, secrets by reference. */}}
{{- define "atalaya.settings" -}}
- name: ATALAYA__SERVER__LISTEN
  value: "0.0.0.0:{{ .Values.server.port }}"
- name: ATALAYA__SERVER__DATA_DIR
  value: /var/lib/atalaya
- name: ATALAYA__SERVER__SHUTDOWN_GRACE_MS
  value: {{ .Values.server.shutdownGraceMs | quote }}
- name: ATALAYA__STORAGE__BACKEND
  value: postgres
- name: ATALAYA__STORAGE__URL
  value: env:DATABASE_URL
- name: ATALAYA__STORAGE__POOL_SIZE
  value: {{ .Values.postgres.poolSize | quote }}
- name: ATALAYA__STORAGE__MIGRATE
  value: {{ ternary "manual" "auto" .Values.migrations.enabled | quote }}
{{- if .Values.postgres.caConfigMap }}
- name: ATALAYA__STORAGE__TLS_CA_FILE
  value: /etc/atalaya/ca/ca.pem
{{- end }}
- name: ATALAYA__COORDINATION__REDIS_URL
  value: env:REDIS_URL
- name: ATALAYA__COORDINATION__ON_UNAVAILABLE
  value: {{ .Values.redis.onUnavailable | quote }}
- name: ATALAYA__COORDINATION__TIMEOUT_MS
  value: {{ .Values.redis.timeoutMs | quote }}
- name: ATALAYA__COORDINATION__EXPECTED_REPLICAS
  value: {{ (ternary .Values.autoscaling.minReplicas .Values.replicaCount .Values.autoscaling.enabled) | quote }}
{{- if .Values.auth.adminKeySecret.name }}
- name: ATALAYA__AUTH__BOOTSTRAP_ADMIN_KEY
  value: env:ATALAYA_ADMIN_KEY
{{- end }}
{{- if .Values.audit.signingKeySecret.name }}
- name: ATALAYA__AUDIT__SIGNING_KEY
  value: env:ATALAYA_AUDIT_SIGNING_KEY
{{- end }}
{{- if .Values.encryption.masterKeySecret.name }}
- name: ATALAYA__ENCRYPTION__MASTER_KEY
  value: env:ATALAYA_MASTER_KEY
{{- end }}
{{- if .Values.metrics.keySecret.name }}
- name: ATALAYA__SERVER__METRICS_KEY
  value: env:ATALAYA_METRICS_KEY
{{- end }}
{{- end -}}
