{{/*
Chart name.
*/}}
{{- define "toshiba-etl.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 52 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of every object. Cut to 52 characters, not the usual 63: the CronJob controller appends
11 characters to a CronJob's name for its Jobs, and a Job's name must fit in 63.
*/}}
{{- define "toshiba-etl.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of a Job started by hand: at most 63 characters with "-manual-" and a 10-digit timestamp.
*/}}
{{- define "toshiba-etl.manualJobPrefix" -}}
{{- include "toshiba-etl.fullname" . | trunc 45 | trimSuffix "-" }}
{{- end }}

{{- define "toshiba-etl.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "toshiba-etl.selectorLabels" -}}
app.kubernetes.io/name: {{ include "toshiba-etl.name" . }}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "toshiba-etl.labels" -}}
helm.sh/chart: {{ include "toshiba-etl.chart" . }}
{{ include "toshiba-etl.selectorLabels" . }}
app.kubernetes.io/version: {{ (.Values.image.tag | default .Chart.AppVersion) | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: etl
app.kubernetes.io/part-of: toshiba-etl
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "toshiba-etl.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "toshiba-etl.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "toshiba-etl.configMapName" -}}
{{- printf "%s-config" (include "toshiba-etl.fullname" .) }}
{{- end }}

{{- define "toshiba-etl.secretName" -}}
{{- default (include "toshiba-etl.fullname" .) .Values.existingSecret }}
{{- end }}

{{- define "toshiba-etl.claimName" -}}
{{- default (printf "%s-state" (include "toshiba-etl.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{- define "toshiba-etl.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The config file: `config` without empty strings and nulls, plus state_dir = the volume's mount path.
*/}}
{{- define "toshiba-etl.configFile" -}}
{{- $cfg := dict }}
{{- range $key, $value := .Values.config }}
{{- if not (or (kindIs "invalid" $value) (and (kindIs "string" $value) (eq $value ""))) }}
{{- $_ := set $cfg $key $value }}
{{- end }}
{{- end }}
{{- $_ := set $cfg "state_dir" .Values.persistence.mountPath }}
{{- toPrettyJson $cfg }}
{{- end }}

{{- define "toshiba-etl.configDir" -}}
/etc/toshiba-etl
{{- end }}

{{/*
Environment of the etl container (the CronJob's and the test pod's).
*/}}
{{- define "toshiba-etl.env" -}}
- name: ETL_CONFIG
  value: {{ include "toshiba-etl.configDir" . }}/config.json
{{- with .Values.config.aws_region }}
- name: AWS_REGION
  value: {{ . | quote }}
{{- end }}
{{- $keys := .Values.existingSecretKeys }}
{{- if or .Values.existingSecret .Values.secret.databaseUrl }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "toshiba-etl.secretName" . }}
      key: {{ ternary $keys.databaseUrl "DATABASE_URL" (ne .Values.existingSecret "") }}
{{- end }}
{{- if or .Values.existingSecret .Values.secret.awsAccessKeyId }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "toshiba-etl.secretName" . }}
      key: {{ ternary $keys.awsAccessKeyId "AWS_ACCESS_KEY_ID" (ne .Values.existingSecret "") }}
      optional: true
{{- end }}
{{- if or .Values.existingSecret .Values.secret.awsSecretAccessKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "toshiba-etl.secretName" . }}
      key: {{ ternary $keys.awsSecretAccessKey "AWS_SECRET_ACCESS_KEY" (ne .Values.existingSecret "") }}
      optional: true
{{- end }}
{{- if and (gt (int (.Values.workers | default 1)) 1) (ne (.stateVolume | default "") "emptyDir") }}
{{- /* The Job's pods share one run: the Job's uid, the same in every pod of it (and in a pod that replaces one). */}}
- name: ETL_RUN_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.labels['batch.kubernetes.io/controller-uid']
{{- end }}
{{- if .Values.otel.enabled }}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: K8S_NAMESPACE_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: K8S_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: K8S_JOB_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.labels['job-name']
- name: OTEL_SERVICE_NAME
  value: {{ default (include "toshiba-etl.fullname" .) .Values.otel.serviceName | quote }}
{{- with .Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- if .Values.otel.metrics.endpoint }}
- name: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT
  value: {{ .Values.otel.metrics.endpoint | quote }}
{{- else if not .Values.otel.metrics.toTraceEndpoint }}
{{- /* otel.endpoint is usually Jaeger, which takes no metrics: none are sent there unless asked. */}}
- name: OTEL_METRICS_EXPORTER
  value: "none"
{{- end }}
{{- $attrs := list "k8s.pod.name=$(K8S_POD_NAME)" "k8s.namespace.name=$(K8S_NAMESPACE_NAME)" "k8s.node.name=$(K8S_NODE_NAME)" "k8s.job.name=$(K8S_JOB_NAME)" (printf "k8s.cronjob.name=%s" (include "toshiba-etl.fullname" .)) }}
{{- range $key, $value := .Values.otel.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%s" $key (toString $value)) }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attrs | quote }}
{{- else }}
- name: OTEL_SDK_DISABLED
  value: "true"
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "toshiba-etl.volumeMounts" -}}
- name: config
  mountPath: {{ include "toshiba-etl.configDir" . }}
  readOnly: true
- name: state
  mountPath: {{ .Values.persistence.mountPath }}
- name: tmp
  mountPath: /tmp
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "toshiba-etl.volumes" -}}
- name: config
  configMap:
    name: {{ include "toshiba-etl.configMapName" . }}
- name: state
{{- if and (gt (int (.Values.workers | default 1)) 1) (ne (.stateVolume | default "") "emptyDir") }}
  # A state dir per worker pod: pods on several nodes cannot all mount a ReadWriteOnce volume.
  emptyDir:
    sizeLimit: {{ .Values.workerState.sizeLimit | quote }}
{{- else if and .Values.persistence.enabled (ne (.stateVolume | default "") "emptyDir") }}
  persistentVolumeClaim:
    claimName: {{ include "toshiba-etl.claimName" . }}
{{- else }}
  emptyDir: {}
{{- end }}
- name: tmp
{{- if or .Values.tmp.medium .Values.tmp.sizeLimit }}
  emptyDir:
    {{- with .Values.tmp.medium }}
    medium: {{ . }}
    {{- end }}
    {{- with .Values.tmp.sizeLimit }}
    sizeLimit: {{ . | quote }}
    {{- end }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- with .Values.extraVolumes }}
{{ tpl (toYaml .) $ }}
{{- end }}
{{- end }}

{{/*
Pod-level settings shared by the CronJob's pods and the test pod.
*/}}
{{- define "toshiba-etl.podSettings" -}}
serviceAccountName: {{ include "toshiba-etl.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The etl container without its args.
*/}}
{{- define "toshiba-etl.container" -}}
image: {{ include "toshiba-etl.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
env:
  {{- include "toshiba-etl.env" . | nindent 2 }}
{{- with .Values.envFrom }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumeMounts:
  {{- include "toshiba-etl.volumeMounts" . | nindent 2 }}
{{- with .Values.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.securityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
initContainers of a run's pod and the test pod: `initContainers` as given, then `extraContainers`
as native sidecars (restartPolicy: Always keeps them running beside the etl container; the kubelet
stops them once it exits, so the Job completes). Both go through tpl.
*/}}
{{- define "toshiba-etl.initContainers" -}}
{{- if or .Values.initContainers .Values.extraContainers }}
initContainers:
{{- range .Values.initContainers }}
  {{- tpl (toYaml (list .)) $ | nindent 2 }}
{{- end }}
{{- range .Values.extraContainers }}
  {{- tpl (toYaml (list (merge (dict "restartPolicy" "Always") .))) $ | nindent 2 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The port of an http(s) URL: the one it names, else 80 or 443. Empty for an empty URL.
*/}}
{{- define "toshiba-etl.urlPort" -}}
{{- with . }}
{{- $url := urlParse . }}
{{- $hostPort := splitList ":" $url.host }}
{{- if gt (len $hostPort) 1 }}{{ last $hostPort }}{{ else if eq $url.scheme "https" }}443{{ else }}80{{ end }}
{{- end }}
{{- end }}
