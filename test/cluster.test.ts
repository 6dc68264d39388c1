// The chart installed with the real helm on the test cluster (scripts/lib/kubernetes.ts: a
// Kubernetes v1.34 control plane and a real kubelet with containerd and runc), running the image
// built from the Dockerfile (scripts/lib/image.ts, imported into the node's containerd):
//   helm install into a namespace that enforces the restricted Pod Security Standard; the CronJob
//   creates a Job at its schedule and its pod loads the exports from MinIO into Postgres; helm
//   upgrade with a changed config rolls the checksum; `kubectl create job --from=cronjob/...`
//   exactly as NOTES prints it; two Jobs at once, one steps aside on the run lock; helm test;
//   helm uninstall keeps the PVC.
//
// The pods reach the test Postgres and MinIO (on loopback) through TCP proxies on the node
// bridge's address. The cluster has no storage provisioner, so the PVC binds to a hostPath
// PersistentVolume made here. `kubectl logs` cannot reach this kubelet (it has no node address),
// so a pod's output is read from the kubelet's pod log files, which `kubectl logs` would serve.
//
// Needs TEST_KUBECONFIG, TEST_KUBECTL_BIN, TEST_HELM_BIN, TEST_IMAGE_ARCHIVE, TEST_DATABASE_URL and
// TEST_S3_*: run `npm test`, or `npm run services:up && source .services.env`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { generateExports, type Expected } from '../src/sample/generator.ts';
import { POD_GATEWAY } from '../scripts/lib/kubernetes.ts';
import { TEST_IMAGE } from '../scripts/lib/image.ts';
import { chartDir } from '../scripts/render-k8s.ts';
import { assertMatchesOracle } from './helpers/oracle.ts';
import { createTestBucket, type TestBucket } from './helpers/s3.ts';
import { freshDatabase, helmBin, kubeconfigFile, kubectlBin, requireService, s3Settings, type FreshDatabase } from './helpers/services.ts';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.ts';

const exec = promisify(execFile);
const id = randomBytes(3).toString('hex');
const namespace = `etl-cluster-${id}`;
const release = 'etl';
const cronJobName = 'etl-toshiba-etl';
const storageClass = `etl-test-${id}`;
const hostDir = `/tmp/etl-cluster-${id}`;

async function tool(binary: string, args: string[], input?: string): Promise<string> {
  try {
    const running = exec(binary, ['--kubeconfig', kubeconfigFile(), ...args], { maxBuffer: 16 << 20, timeout: 300_000 });
    if (input !== undefined) running.child.stdin?.end(input);
    return (await running).stdout;
  } catch (error) {
    const failed = error as Error & { stdout?: string; stderr?: string };
    throw new Error(`${path.basename(binary)} ${args.join(' ')} failed: ${failed.stderr ?? ''}${failed.stdout ?? ''}`, { cause: error });
  }
}
const kubectl = (args: string[], input?: string) => tool(kubectlBin(), args, input);
const helm = (args: string[]) => tool(helmBin(), args);
const getJson = async <T>(args: string[]): Promise<T> => JSON.parse(await kubectl([...args, '-n', namespace, '-o', 'json'])) as T;

interface Job {
  metadata: { name: string; ownerReferences?: { kind: string; name: string }[]; creationTimestamp: string };
  status: { active?: number; succeeded?: number; failed?: number; completionTime?: string; conditions?: { type: string; status: string; message?: string }[] };
}
const finished = (job: Job) => job.status.conditions?.find((c) => c.status === 'True' && (c.type === 'Complete' || c.type === 'Failed'))?.type;

/** What the run's pods wrote: the kubelet's log files of the Job's pods (what `kubectl logs` serves). */
function podLogs(jobName: string): string {
  const dir = path.join(path.dirname(kubeconfigFile()), 'pod-logs');
  if (!existsSync(dir)) return '(no pod logs)';
  return readdirSync(dir).filter((entry) => entry.startsWith(`${namespace}_${jobName}-`)).map((entry) => {
    const container = path.join(dir, entry, 'etl');
    const files = existsSync(container) ? readdirSync(container) : [];
    return files.map((file) => readFileSync(path.join(container, file), 'utf8')).join('');
  }).join('\n');
}

async function waitForJob(name: string, timeoutMs = 180_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await getJson<Job>(['get', 'job', name]);
    if (finished(job) !== undefined) return job;
    assert.ok(Date.now() < deadline, `job ${name} did not finish within ${timeoutMs / 1000} s: ${JSON.stringify(job.status)}\n${podLogs(name).slice(-3000)}`);
    await sleep(1000);
  }
}

function assertComplete(job: Job): void {
  assert.equal(finished(job), 'Complete', `job ${job.metadata.name}: ${JSON.stringify(job.status)}\n${podLogs(job.metadata.name).slice(-3000)}`);
  assert.equal(job.status.succeeded, 1);
}

async function runs(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM etl_runs')).rows[0]!.n;
  } finally {
    await client.end();
  }
}

/** TCP proxies on the node bridge to the test Postgres (of `databaseUrl`) and MinIO: how the pods reach them. */
async function podProxies(databaseUrl: string): Promise<{ postgresProxy: TcpProxy; s3Proxy: TcpProxy }> {
  const database = new URL(databaseUrl);
  const s3 = new URL(requireService('TEST_S3_ENDPOINT'));
  return {
    postgresProxy: await startTcpProxy(database.hostname, Number(database.port), POD_GATEWAY),
    s3Proxy: await startTcpProxy(s3.hostname, Number(s3.port), POD_GATEWAY),
  };
}

/** A namespace that enforces the restricted Pod Security Standard, once it has its default service account. */
async function restrictedNamespace(name: string): Promise<void> {
  await kubectl(['create', 'namespace', name]);
  await kubectl(['label', 'namespace', name, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/enforce-version=latest']);
  const accountBy = Date.now() + 30_000;
  while (!(await kubectl(['get', 'serviceaccounts', '-n', name, '-o', 'name'])).includes('serviceaccount/default')) {
    assert.ok(Date.now() < accountBy, `${name} got no default service account within 30 s`);
    await sleep(200);
  }
}

describe('the chart on a real Kubernetes, running the image', { concurrency: false }, () => {
  let db: FreshDatabase;
  let bucket: TestBucket;
  let expected: Expected;
  let postgresProxy: TcpProxy;
  let s3Proxy: TcpProxy;
  let notes = '';

  before(async () => {
    requireService('TEST_IMAGE_ARCHIVE');
    db = await freshDatabase({ prefix: 'cluster' });
    bucket = await createTestBucket('etl-cluster');
    const generated = generateExports({ seed: 1734, files: 4, rowsPerFile: 50 });
    expected = generated.expected;
    for (const object of [...generated.objects].sort((a, b) => (a.key < b.key ? -1 : 1))) await bucket.put(`exports/${object.key}`, object.body);
    ({ postgresProxy, s3Proxy } = await podProxies(db.url));
    await restrictedNamespace(namespace);
    // No provisioner: a PersistentVolume on the node for the chart's claim. hostPath gets no
    // fsGroup, so the folder is the runtime user's already.
    mkdirSync(hostDir, { recursive: true, mode: 0o770 });
    chownSync(hostDir, 65532, 65532);
    await kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: `etl-state-${id}` },
      spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Retain', storageClassName: storageClass, hostPath: { path: hostDir, type: 'Directory' } },
    }));
  });

  after(async () => {
    await kubectl(['delete', 'namespace', namespace, '--wait=true', '--timeout=120s']).catch(() => undefined);
    await kubectl(['delete', 'persistentvolume', `etl-state-${id}`, '--wait=false']).catch(() => undefined);
    rmSync(hostDir, { recursive: true, force: true });
    await postgresProxy?.close();
    await s3Proxy?.close();
    await db?.drop();
    await bucket?.drop();
  });

  /** The values a data engineer would give, with the test services' addresses as the pods see them. */
  function values(): string[] {
    const database = new URL(db.url);
    database.hostname = POD_GATEWAY;
    database.port = String(postgresProxy.port);
    const s3 = s3Settings();
    const [repository, tag] = TEST_IMAGE.split(':') as [string, string];
    return [
      '--set', `image.repository=${repository}`, '--set', `image.tag=${tag}`, '--set', 'image.pullPolicy=Never',
      // Every minute: the test waits for the controller to start one at its schedule.
      '--set', 'schedule=* * * * *',
      '--set', `config.source=s3://${bucket.name}/exports/`,
      '--set', `config.s3_endpoint=http://${POD_GATEWAY}:${s3Proxy.port}`, '--set', 'config.s3_force_path_style=true',
      '--set', `config.aws_region=${s3.region}`,
      '--set', `secret.databaseUrl=${database.toString()}`,
      '--set', `secret.awsAccessKeyId=${s3.credentials.accessKeyId}`, '--set', `secret.awsSecretAccessKey=${s3.credentials.secretAccessKey}`,
      '--set', `persistence.storageClass=${storageClass}`, '--set', 'persistence.size=1Gi',
      '--set', 'otel.enabled=false',
    ];
  }

  it('installs into a namespace enforcing the restricted Pod Security Standard; the CronJob starts a Job at its schedule, whose pod loads the exports', async () => {
    const install = await helm(['install', release, chartDir, '-n', namespace, ...values()]);
    notes = install.slice(install.indexOf('NOTES:'));
    const deadline = Date.now() + 120_000;
    let scheduled: Job | undefined;
    while (scheduled === undefined) {
      const jobs = await getJson<{ items: Job[] }>(['get', 'jobs']);
      scheduled = jobs.items.find((job) => job.metadata.ownerReferences?.some((owner) => owner.kind === 'CronJob' && owner.name === cronJobName));
      if (scheduled === undefined) {
        assert.ok(Date.now() < deadline, 'the CronJob started no Job within 120 s of its every-minute schedule');
        await sleep(2000);
      }
    }
    assertComplete(await waitForJob(scheduled.metadata.name));
    await assertMatchesOracle(db.url, expected, 'the scheduled run in the cluster');
    assert.ok(readdirSync(hostDir).some((file) => /^pipeline_summary_\d{8}\.json$/.test(file)), 'the run summary is on the PVC');
  });

  it('helm upgrade with a changed config rolls the config checksum of the pods', async () => {
    type CronJob = { spec: { suspend: boolean; jobTemplate: { spec: { template: { metadata: { annotations: Record<string, string> } } } } } };
    const checksum = (cronJob: CronJob) => cronJob.spec.jobTemplate.spec.template.metadata.annotations['checksum/config'];
    const before = await getJson<CronJob>(['get', 'cronjob', cronJobName]);
    // Suspended from here on: the Jobs below are the only runs.
    await helm(['upgrade', release, chartDir, '-n', namespace, ...values(), '--set', 'config.log_level=debug', '--set', 'suspend=true']);
    const after = await getJson<CronJob>(['get', 'cronjob', cronJobName]);
    assert.ok(checksum(before), 'the pods carry a checksum of the config');
    assert.notEqual(checksum(after), checksum(before), 'a changed config changes the checksum');
    assert.equal(after.spec.suspend, true);
    const config = await getJson<{ data: Record<string, string> }>(['get', 'configmap', `${cronJobName}-config`]);
    assert.equal((JSON.parse(config.data['config.json']!) as { log_level: string }).log_level, 'debug');
    // A scheduled run still going finishes before the next steps count runs.
    const deadline = Date.now() + 180_000;
    while ((await getJson<{ items: Job[] }>(['get', 'jobs'])).items.some((job) => finished(job) === undefined)) {
      assert.ok(Date.now() < deadline, 'a scheduled Job is still running after 180 s');
      await sleep(1000);
    }
  });

  it('`kubectl create job --from=cronjob/...` exactly as NOTES prints it runs a Job that completes and loads nothing twice', async () => {
    const line = /kubectl create job --from=cronjob\/\S+ \S+-manual-\$\(date \+%s\) -n \S+/.exec(notes)?.[0];
    assert.ok(line, `NOTES prints the manual trigger:\n${notes}`);
    const args = line.replace('$(date +%s)', String(Math.floor(Date.now() / 1000))).split(' ').slice(1);
    const before = await runs(db.url);
    await kubectl(args);
    const name = args[3]!;
    assertComplete(await waitForJob(name));
    assert.equal(await runs(db.url), before + 1, 'the manual Job ran');
    assert.match(podLogs(name), /"files":\{[^}]*"loaded":0/, 'nothing new to load');
    await assertMatchesOracle(db.url, expected, 'after the manual run');
  });

  it('two Jobs at once: the second steps aside on the run lock and exits 0, the first loads the new object once', async () => {
    await bucket.put('exports/2026/late arrival.csv', 'SR Number,SR Status,Account Number,Customer Name\n990001,Open,0009,Late Customer\n');
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      // The first run takes the run lock, then waits on its first ledger write until this
      // transaction ends: the lock is held for as long as the test needs.
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE etl_files IN EXCLUSIVE MODE');
      const stamp = Math.floor(Date.now() / 1000);
      const first = `${cronJobName}-first-${stamp}`;
      const second = `${cronJobName}-second-${stamp}`;
      await kubectl(['create', 'job', `--from=cronjob/${cronJobName}`, first, '-n', namespace]);
      const lockBy = Date.now() + 120_000;
      // Advisory locks of this database only: other tests' runs hold theirs on the same server.
      const held = "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
      while ((await holder.query<{ n: number }>(held)).rows[0]!.n === 0) {
        assert.ok(Date.now() < lockBy, `the first Job did not take the run lock within 120 s\n${podLogs(first).slice(-3000)}`);
        await sleep(500);
      }
      await kubectl(['create', 'job', `--from=cronjob/${cronJobName}`, second, '-n', namespace]);
      assertComplete(await waitForJob(second));
      assert.match(podLogs(second), /another run holds the run lock/);
      const running = await getJson<Job>(['get', 'job', first]);
      assert.equal(finished(running), undefined, `the first is still running: ${JSON.stringify(running.status)}\n${podLogs(first).slice(-3000)}`);
      await holder.query('ROLLBACK');
      assertComplete(await waitForJob(first));
    } finally {
      await holder.end();
    }
    const loaded = new pg.Client({ connectionString: db.url });
    await loaded.connect();
    try {
      const { rows } = await loaded.query<{ status: string; attempts: number }>("SELECT status, attempts FROM etl_files WHERE object_key = '2026/late arrival.csv'");
      assert.deepEqual(rows, [{ status: 'loaded', attempts: 1 }]);
      assert.equal((await loaded.query('SELECT 1 FROM service_requests WHERE sr_number = $1', ['990001'])).rowCount, 1);
    } finally {
      await loaded.end();
    }
  });

  it('helm test runs `etl check` in a pod that passes', async () => {
    const output = await helm(['test', release, '-n', namespace, '--timeout', '180s']);
    assert.match(output, /TEST SUITE:\s+etl-toshiba-etl-check[\s\S]*Phase:\s+Succeeded/);
  });

  it('helm uninstall removes the CronJob and keeps the PVC (the run summaries outlive the release)', async () => {
    await helm(['uninstall', release, '-n', namespace, '--wait']);
    const left = await getJson<{ items: { kind: string; metadata: { name: string } }[] }>(['get', 'cronjobs,persistentvolumeclaims']);
    assert.deepEqual(left.items.map((item) => `${item.kind}/${item.metadata.name}`), [`PersistentVolumeClaim/${cronJobName}-state`]);
  });
});

describe('the chart with workers: 3 on a real Kubernetes: one run over three pods', { concurrency: false }, () => {
  const workersNamespace = `etl-workers-${id}`;
  let db: FreshDatabase;
  let bucket: TestBucket;
  let expected: Expected;
  let postgresProxy: TcpProxy;
  let s3Proxy: TcpProxy;
  const get = async <T>(args: string[]): Promise<T> => JSON.parse(await kubectl([...args, '-n', workersNamespace, '-o', 'json'])) as T;

  before(async () => {
    requireService('TEST_IMAGE_ARCHIVE');
    db = await freshDatabase({ prefix: 'cluster_workers' });
    bucket = await createTestBucket('etl-cluster-workers');
    // Enough to keep three pods busy for a while (one is deleted mid-run).
    const generated = generateExports({ seed: 1735, files: 24, rowsPerFile: 6000, variations: false });
    expected = generated.expected;
    for (const object of [...generated.objects].sort((a, b) => (a.key < b.key ? -1 : 1))) await bucket.put(`exports/${object.key}`, object.body);
    ({ postgresProxy, s3Proxy } = await podProxies(db.url));
    await restrictedNamespace(workersNamespace);
  });

  after(async () => {
    await kubectl(['delete', 'namespace', workersNamespace, '--wait=true', '--timeout=120s']).catch(() => undefined);
    await postgresProxy?.close();
    await s3Proxy?.close();
    await db?.drop();
    await bucket?.drop();
  });

  it('the scheduled Job runs three pods that load the MinIO set exactly once; one pod deleted mid-run, the Job still completes exact', async () => {
    const database = new URL(db.url);
    database.hostname = POD_GATEWAY;
    database.port = String(postgresProxy.port);
    const s3 = s3Settings();
    const [repository, tag] = TEST_IMAGE.split(':') as [string, string];
    await helm([
      'install', release, chartDir, '-n', workersNamespace,
      '--set', `image.repository=${repository}`, '--set', `image.tag=${tag}`, '--set', 'image.pullPolicy=Never',
      '--set', 'schedule=* * * * *', '--set', 'workers=3', '--set', 'workerState.sizeLimit=1Gi',
      '--set', `config.source=s3://${bucket.name}/exports/`,
      '--set', `config.s3_endpoint=http://${POD_GATEWAY}:${s3Proxy.port}`, '--set', 'config.s3_force_path_style=true',
      '--set', `config.aws_region=${s3.region}`,
      '--set', `secret.databaseUrl=${database.toString()}`,
      '--set', `secret.awsAccessKeyId=${s3.credentials.accessKeyId}`, '--set', `secret.awsSecretAccessKey=${s3.credentials.secretAccessKey}`,
      '--set', 'otel.enabled=false',
    ]);
    // The first scheduled Job; the CronJob is then suspended, so that it is the only run.
    const deadline = Date.now() + 120_000;
    let job: (Job & { metadata: { uid: string } }) | undefined;
    while (job === undefined) {
      const jobs = await get<{ items: Array<Job & { metadata: { uid: string } }> }>(['get', 'jobs']);
      job = jobs.items.find((item) => item.metadata.ownerReferences?.some((owner) => owner.kind === 'CronJob' && owner.name === cronJobName));
      if (job === undefined) {
        assert.ok(Date.now() < deadline, 'the CronJob started no Job within 120 s of its every-minute schedule');
        await sleep(1000);
      }
    }
    await kubectl(['patch', 'cronjob', cronJobName, '-n', workersNamespace, '--type=merge', '-p', '{"spec":{"suspend":true}}']);
    // Once the run is under way (some of its objects done, not all), one of its pods is deleted.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const progressBy = Date.now() + 180_000;
      for (;;) {
        const { rows } = await client.query<{ done: number; total: number }>(
          `SELECT count(*) FILTER (WHERE done_by IS NOT NULL)::int AS done, count(*)::int AS total FROM etl_run_objects o JOIN etl_runs r USING (run_id) WHERE r.shared_id = $1`,
          [job.metadata.uid],
        ).catch(() => ({ rows: [] as Array<{ done: number; total: number }> }));
        if (rows[0] && rows[0].done > 0 && rows[0].done < rows[0].total) break;
        assert.ok(Date.now() < progressBy, `the run of Job ${job.metadata.name} did not get under way within 180 s: ${JSON.stringify(rows)}\n${podLogs(job.metadata.name).slice(-3000)}`);
        await sleep(200);
      }
      const pods = await get<{ items: Array<{ metadata: { name: string }; status: { phase: string } }> }>(['get', 'pods', '-l', `job-name=${job.metadata.name}`]);
      const running = pods.items.filter((pod) => pod.status.phase === 'Running');
      assert.equal(running.length, 3, `three pods run the Job: ${JSON.stringify(pods.items.map((pod) => [pod.metadata.name, pod.status.phase]))}`);
      await kubectl(['delete', 'pod', running[0]!.metadata.name, '-n', workersNamespace, '--wait=false']);

      const done = await (async () => {
        const by = Date.now() + 300_000;
        for (;;) {
          const current = await get<Job>(['get', 'job', job.metadata.name]);
          if (finished(current) !== undefined) return current;
          assert.ok(Date.now() < by, `job ${job.metadata.name} did not finish within 300 s: ${JSON.stringify(current.status)}\n${podLogs(job.metadata.name).slice(-3000)}`);
          await sleep(1000);
        }
      })();
      assert.equal(finished(done), 'Complete', `job ${done.metadata.name}: ${JSON.stringify(done.status)}\n${podLogs(done.metadata.name).slice(-3000)}`);
      assert.equal(done.status.succeeded, 3, 'three indexes succeeded');
      await assertMatchesOracle(db.url, expected, 'three pods, one deleted mid-run');
      const { rows: runRows } = await client.query<{ shared_id: string; status: string }>('SELECT shared_id, status FROM etl_runs');
      assert.deepEqual(runRows, [{ shared_id: job.metadata.uid, status: 'ok' }], 'one run, the Job\'s, closed ok');
      const { rows: objects } = await client.query<{ n: number; workers: number }>(
        'SELECT count(*)::int AS n, count(DISTINCT done_by)::int AS workers FROM etl_run_objects WHERE done_by IS NOT NULL',
      );
      assert.equal(objects[0]!.n, expected.files.length, 'every object of the run done once');
      assert.ok(objects[0]!.workers >= 2, 'the pods shared the work');
      // The deleted pod stopped (its batch rolled back, taken by another pod): three indexes
      // succeeded all the same, so the pod the Job started for its index did too (it joined the
      // run, or found it over and touched nothing).
      const { rows: workerRows } = await client.query<{ status: string }>('SELECT status FROM etl_run_workers ORDER BY joined_at');
      assert.equal(workerRows.filter((row) => row.status === 'aborted').length, 1, JSON.stringify(workerRows));
      assert.equal(workerRows.filter((row) => row.status === 'ok').length, workerRows.length - 1, JSON.stringify(workerRows));
      const { rows: ledger } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM etl_files WHERE attempts = 1');
      assert.equal(ledger[0]!.n, expected.files.length, 'each object recorded once');
    } finally {
      await client.end();
    }
  });
});
