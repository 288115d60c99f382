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

{{/* The serving certificate of certificates.mode=self-generated, as YAML: crt, key, ca and caBundle (base64 PEM)
and notAfter (RFC 3339, UTC; the Secret records it as netweave.io/not-after). Takes a dict: secret (the existing
Secret, empty when there is none), now, validityDays, renewBeforeDays, namespace. The Secret is reused while its
recorded expiry is more than renewBeforeDays after now; otherwise (no Secret, no or unreadable expiry, expiring or
expired) a new CA and certificate are made. A renewal's caBundle trusts the new CA and the old one, so webhook
pods that still serve the old certificate until the kubelet updates the mounted Secret keep answering. */}}
{{- define "netweave.selfGeneratedTLS" -}}
{{- $data := .secret.data | default dict -}}
{{- $annotations := (.secret.metadata | default dict).annotations | default dict -}}
{{- $recorded := index $annotations "netweave.io/not-after" | default "" | toString -}}
{{- $renewFrom := add .now.Unix (mul .renewBeforeDays 86400) -}}
{{- $complete := and (index $data "ca.crt") (index $data "tls.crt") (index $data "tls.key") -}}
{{- if and $complete $recorded (gt (toDate "2006-01-02T15:04:05Z07:00" $recorded).Unix $renewFrom) -}}
{{- dict "crt" (index $data "tls.crt") "key" (index $data "tls.key") "ca" (index $data "ca.crt") "caBundle" (index $data "ca.crt") "notAfter" $recorded | toYaml -}}
{{- else -}}
{{- $ns := .namespace -}}
{{- $authority := genCA "netweave-webhook-ca" (mul .validityDays 10 | int) -}}
{{- $names := list "netweave-webhook" (printf "netweave-webhook.%s" $ns) (printf "netweave-webhook.%s.svc" $ns) (printf "netweave-webhook.%s.svc.cluster.local" $ns) -}}
{{- $serving := genSignedCert (printf "netweave-webhook.%s.svc" $ns) nil $names (int .validityDays) $authority -}}
{{- $previous := index $data "ca.crt" | default "" | toString | b64dec -}}
{{- $bundle := $authority.Cert -}}
{{- if hasPrefix "-----BEGIN CERTIFICATE-----" $previous }}{{ $bundle = printf "%s%s" $authority.Cert $previous }}{{ end -}}
{{- $notAfter := dateInZone "2006-01-02T15:04:05Z07:00" (.now | dateModify (printf "+%dh" (mul .validityDays 24))) "UTC" -}}
{{- dict "crt" ($serving.Cert | b64enc) "key" ($serving.Key | b64enc) "ca" ($authority.Cert | b64enc) "caBundle" ($bundle | b64enc) "notAfter" $notAfter | toYaml -}}
{{- end -}}
{{- end }}
