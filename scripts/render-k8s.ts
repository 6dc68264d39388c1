// Renders the plain manifests in k8s/ from the Helm chart, for people who do not use Helm.
//
//   node scripts/render-k8s.ts           write k8s/*.yaml from charts/toshiba-etl + k8s/values.yaml
//   node scripts/render-k8s.ts --check   exit 1 when k8s/ differs from what the chart renders
//
// The helm binary: $HELM_BIN, else $TEST_HELM_BIN (see scripts/services.ts), else .services/bin/helm,
// else `helm` on the PATH. The helpers below are also what test/chart.test.ts and
// test/render-and-run.test.ts use to render the chart.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isMap, parseAllDocuments, stringify } from 'yaml';

export const root = path.resolve(import.meta.dirname, '..');
export const chartDir = path.join(root, 'charts', 'toshiba-etl');
export const k8sDir = path.join(root, 'k8s');
/** The documented values the plain manifests are rendered with. */
export const k8sValuesFile = path.join(k8sDir, 'values.yaml');
export const K8S_RELEASE = 'toshiba-etl';
export const K8S_NAMESPACE = 'toshiba-etl';

/** A rendered Kubernetes object (only the fields every object has are typed). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export function helmBinary(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HELM_BIN) return env.HELM_BIN;
  if (env.TEST_HELM_BIN) return env.TEST_HELM_BIN;
  const local = path.join(root, '.services', 'bin', 'helm');
  return existsSync(local) ? local : 'helm';
}

export interface RenderOptions {
  helm: string;
  release?: string;
  namespace?: string;
  /** Values as an object; written to a temporary values file (so types survive, unlike --set). */
  values?: Record<string, unknown>;
  valuesFiles?: string[];
  /** Leave out the `helm test` hook pod. */
  skipTests?: boolean;
}

export interface HelmResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/** Runs helm and returns its output whatever the exit code. */
export function runHelm(helm: string, args: string[]): HelmResult {
  try {
    const stdout = execFileSync(helm, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
    return { ok: true, stdout, stderr: '' };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    return { ok: false, stdout: failed.stdout ?? '', stderr: failed.stderr ?? failed.message };
  }
}

/** `helm template` arguments for the options; returns the temporary dir to delete afterwards. */
function templateArgs(options: RenderOptions): { args: string[]; cleanup: () => void } {
  const args = ['template', options.release ?? K8S_RELEASE, chartDir, '--namespace', options.namespace ?? K8S_NAMESPACE];
  if (options.skipTests) args.push('--skip-tests');
  for (const file of options.valuesFiles ?? []) args.push('--values', file);
  let dir: string | undefined;
  if (options.values !== undefined) {
    dir = mkdtempSync(path.join(tmpdir(), 'etl-values-'));
    const file = path.join(dir, 'values.json');
    writeFileSync(file, JSON.stringify(options.values));
    args.push('--values', file);
  }
  return { args, cleanup: () => { if (dir !== undefined) rmSync(dir, { recursive: true, force: true }); } };
}

/** `helm template` as text; throws with helm's message when it fails. */
export function renderChartText(options: RenderOptions): string {
  const result = tryRenderChart(options);
  if (!result.ok) throw new Error(`helm template failed: ${result.stderr.trim()}`);
  return result.stdout;
}

export function tryRenderChart(options: RenderOptions): HelmResult {
  const { args, cleanup } = templateArgs(options);
  try {
    return runHelm(options.helm, args);
  } finally {
    cleanup();
  }
}

/** Parses a multi-document YAML stream into its objects (empty documents dropped). */
export function parseManifests(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    objects.push(value as K8sObject);
  }
  return objects;
}

export function renderChart(options: RenderOptions): K8sObject[] {
  return parseManifests(renderChartText(options));
}

const HELM_ONLY_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by'];

/** Drops the labels that claim Helm manages the object: nothing does once they are plain files. */
function dropHelmLabels(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) dropHelmLabels(item);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const record = node as Record<string, unknown>;
  for (const [key, value] of Object.entries(record)) {
    if (key === 'labels' && value !== null && typeof value === 'object') {
      for (const label of HELM_ONLY_LABELS) delete (value as Record<string, unknown>)[label];
    } else {
      dropHelmLabels(value);
    }
  }
}

const FILE_FOR_KIND: Record<string, string> = {
  ServiceAccount: 'serviceaccount.yaml',
  ConfigMap: 'configmap.yaml',
  Secret: 'secret.yaml',
  PersistentVolumeClaim: 'persistentvolumeclaim.yaml',
  CronJob: 'cronjob.yaml',
};

/** The files of k8s/ (name -> content) as the chart renders them today. */
export function renderPlainManifests(helm: string): Map<string, string> {
  const text = renderChartText({ helm, valuesFiles: [k8sValuesFile], skipTests: true });
  const files = new Map<string, string>();
  for (const doc of parseAllDocuments(text)) {
    if (!isMap(doc.contents)) continue;
    const object = doc.toJS() as K8sObject;
    const file = FILE_FOR_KIND[object.kind];
    if (file === undefined) throw new Error(`the chart renders a ${object.kind}, which scripts/render-k8s.ts has no file name for`);
    if (files.has(file)) throw new Error(`the chart renders two objects for k8s/${file}`);
    dropHelmLabels(object);
    const header = [
      `# ${object.kind} ${object.metadata.name}: generated by scripts/render-k8s.ts from charts/toshiba-etl`,
      '# with k8s/values.yaml. Do not edit by hand: change the values and run `node scripts/render-k8s.ts`.',
    ].join('\n');
    files.set(file, `${header}\n${stringify(object, { lineWidth: 0 })}`);
  }
  const order = Object.values(FILE_FOR_KIND).filter((file) => files.has(file));
  files.set('kustomization.yaml', [
    '# Generated by scripts/render-k8s.ts: `kubectl apply -k k8s/` applies everything below.',
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    'resources:',
    ...order.map((file) => `  - ${file}`),
    '',
  ].join('\n'));
  return files;
}

/** Files in k8s/ the script owns (everything but the hand-written values and README). */
export function generatedFilesOnDisk(): string[] {
  if (!existsSync(k8sDir)) return [];
  return readdirSync(k8sDir).filter((file) => file.endsWith('.yaml') && file !== 'values.yaml');
}

/** Differences between k8s/ and the chart, as sentences; empty when in sync. */
export function plainManifestDrift(helm: string): string[] {
  const wanted = renderPlainManifests(helm);
  const problems: string[] = [];
  for (const [file, content] of wanted) {
    const target = path.join(k8sDir, file);
    if (!existsSync(target)) problems.push(`k8s/${file} is missing`);
    else if (readFileSync(target, 'utf8') !== content) problems.push(`k8s/${file} differs from the chart`);
  }
  for (const file of generatedFilesOnDisk()) {
    if (!wanted.has(file)) problems.push(`k8s/${file} is no longer rendered by the chart`);
  }
  return problems;
}

function main(argv: string[]): number {
  const helm = helmBinary();
  if (argv.includes('--check')) {
    const problems = plainManifestDrift(helm);
    if (problems.length === 0) {
      console.log('k8s/ is in sync with charts/toshiba-etl');
      return 0;
    }
    console.error(`${problems.join('\n')}\nRun \`node scripts/render-k8s.ts\` and commit k8s/.`);
    return 1;
  }
  const files = renderPlainManifests(helm);
  for (const file of generatedFilesOnDisk()) {
    if (!files.has(file)) rmSync(path.join(k8sDir, file));
  }
  for (const [file, content] of files) writeFileSync(path.join(k8sDir, file), content);
  console.log(`wrote ${[...files.keys()].map((file) => `k8s/${file}`).join(', ')}`);
  return 0;
}

if (import.meta.main) {
  process.exitCode = main(process.argv.slice(2));
}
