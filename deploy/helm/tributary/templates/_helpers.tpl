{{/* The name of every object: the release's, unless it already holds the chart's. */}}
{{- define "tributary.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels the gateway's Service and Deployment select its pods by. */}}
{{- define "tributary.selectorLabels" -}}
{{ include "tributary.instanceLabels" . }}
app.kubernetes.io/component: gateway
{{- end -}}

{{/* The release's own Redis pods: the same instance, another component. */}}
{{- define "tributary.redisSelectorLabels" -}}
{{ include "tributary.instanceLabels" . }}
app.kubernetes.io/component: redis
{{- end -}}

{{- define "tributary.instanceLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* On every object. */}}
{{- define "tributary.labels" -}}
{{ include "tributary.instanceLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tributary
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The schema the gateway serves: the `schema` value, or the shipped demo. */}}
{{- define "tributary.schema" -}}
{{- if .Values.schema -}}
{{- .Values.schema -}}
{{- else -}}
{{- .Files.Get "files/schema.graphql" -}}
{{- end -}}
{{- end -}}

{{/* REDIS_URL: the in-release Redis when deployed, else the `redis.url` value. */}}
{{- define "tributary.redisUrl" -}}
{{- if .Values.redis.deploy -}}
{{- printf "redis://%s-redis:6379" (include "tributary.fullname" .) -}}
{{- else -}}
{{- .Values.redis.url -}}
{{- end -}}
{{- end -}}
