{{/* Labels every object carries (the kustomize base's, plus Helm's own bookkeeping). */}}
{{- define "netweave.labels" -}}
app.kubernetes.io/part-of: netweave
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* Selector labels of one component (webhook or node): never change them, they are immutable. */}}
{{- define "netweave.selector" -}}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/name: netweave
{{- end }}

{{- define "netweave.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The policy the webhook reads: the values' policy; outside netweave-system the node's identity moves with it. */}}
{{- define "netweave.policy" -}}
{{- $policy := deepCopy .Values.policy -}}
{{- if and (ne .Release.Namespace "netweave-system") (not (hasKey $policy "statusWriters")) -}}
{{- $_ := set $policy "statusWriters" (dict "users" (list (printf "system:serviceaccount:%s:netweave-node" .Release.Namespace))) -}}
{{- end -}}
{{- if $policy }}{{ toYaml $policy }}{{ end -}}
{{- end }}

{{/* The webhooks' namespaceSelector: never the release namespace, so the webhook's own pods always start. */}}
{{- define "netweave.namespaceSelector" -}}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: [{{ .Release.Namespace | quote }}]
{{- end }}
