{{- define "cva.name" -}}capi-vip-allocator{{- end -}}
{{- define "cva.labels" -}}
app.kubernetes.io/name: capi-vip-allocator
app.kubernetes.io/part-of: cluster-api
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}
{{- define "cva.selector" -}}
app.kubernetes.io/name: capi-vip-allocator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "cva.certSecret" -}}
{{- if eq .Values.tls.source "secret" -}}
{{- required "tls.secretName is required when tls.source is secret" .Values.tls.secretName -}}
{{- else -}}
capi-vip-allocator-webhook-service-cert
{{- end -}}
{{- end -}}
