{{- define "app.image" -}}
{{ .root.Values.image.registry }}/{{ .image }}:{{ .root.Values.image.tag }}
{{- end -}}

{{- define "app.labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* Every backend container reads the same variables. Names stay listed even when a value is
     removed from an environment's values: the container then gets an empty string. */}}
{{- define "app.backendEnv" -}}
- name: ENVIRONMENT
  value: {{ .Values.env.ENVIRONMENT | quote }}
- name: LOG_LEVEL
  value: {{ .Values.env.LOG_LEVEL | quote }}
- name: REDIS_URL
  value: {{ .Values.env.REDIS_URL | quote }}
- name: ENABLE_AUDIT_LOG
  value: {{ .Values.env.ENABLE_AUDIT_LOG | quote }}
- name: SENTRY_ENVIRONMENT
  value: {{ .Values.env.ENVIRONMENT | quote }}
- name: SENTRY_DSN
  valueFrom:
    secretKeyRef:
      name: backend-secrets
      key: SENTRY_DSN
      optional: true
{{- range $name, $value := .Values.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- range $name, $value := .Values.featureFlags }}
- name: FEATURE_FLAGS__{{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- range $key := .Values.secretEnv }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: backend-secrets
      key: {{ $key }}
{{- end }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end -}}
