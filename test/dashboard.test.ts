// The chart's Grafana dashboard against real data: two runs send their metrics to the test
// Prometheus (its OTLP receiver), the first with a failed object, the second after it is gone;
// then every panel's query of the ConfigMap that `helm template --set dashboards.enabled=true`
// renders is evaluated as Grafana would (stat panels as instant queries over the time range,
// time series over it), and each must give what the runs' own summaries say. No panel may
// return nothing. With DASHBOARD_PICTURE=FILE it also draws the panels from those results.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { drawDashboard, type PanelResult } from '../docs/dashboard-picture.ts';
import { renderChart } from '../scripts/render-k8s.ts';
import { runCli, type CliResult } from './helpers/cli.ts';
import { helmBin, prometheusUrl } from './helpers/services.ts';
import { metricsWorkspace } from './helpers/run-metrics.ts';

interface Panel {
  id: number;
  title: string;
  type: 'stat' | 'timeseries';
  gridPos: { x: number; y: number; w: number; h: number };
  fieldConfig: { defaults: { unit: string } };
  targets: Array<{ expr: string; legendFormat: string; instant: boolean }>;
}

interface Summary {
  status: string;
  duration_seconds: number;
  files: Record<string, number>;
  rows: Record<string, number>;
}

type Series = Array<{ metric: Record<string, string>; values: Array<[number, string]> }>;

async function prometheus<T>(endpoint: string, params: Record<string, string>): Promise<T> {
  const response = await fetch(`${prometheusUrl()}/api/v1/${endpoint}?${new URLSearchParams(params)}`);
  const body = await response.text();
  assert.ok(response.ok, `${params['query']}: HTTP ${response.status} ${body}`);
  return (JSON.parse(body) as { data: { result: T } }).data.result;
}

const summaryOf = (result: CliResult) => result.logs.find((line) => line.summary !== undefined)!.summary as Summary;

/** The dashboard as the chart renders it for this service name: the ConfigMap, its label, its JSON. */
function renderedDashboard(service: string) {
  const objects = renderChart({ helm: helmBin(), release: 'etl', namespace: 'data', values: { dashboards: { enabled: true }, otel: { serviceName: service } } });
  const map = objects.find((object) => object.kind === 'ConfigMap' && (object.metadata as { name: string }).name.endsWith('-dashboard')) as unknown as {
    metadata: { labels: Record<string, string>; annotations: Record<string, string> };
    data: Record<string, string>;
  };
  assert.ok(map, 'dashboards.enabled renders the dashboard ConfigMap');
  const [json] = Object.values(map.data);
  return { map, dashboard: JSON.parse(json!) as { title: string; panels: Panel[] } };
}

describe('the Grafana dashboard in the chart', () => {
  it('helm template renders a ConfigMap labelled for the sidecar whose JSON parses and whose every panel has a query; none without dashboards.enabled', () => {
    const { map, dashboard } = renderedDashboard('etl-dashboard');
    assert.equal(map.metadata.labels['grafana_dashboard'], '1');
    assert.equal(map.metadata.annotations['grafana_folder'], 'Toshiba ETL');
    assert.ok(dashboard.panels.length >= 9);
    for (const panel of dashboard.panels) {
      assert.ok(panel.targets.length > 0 && panel.targets.every((target) => target.expr.includes('job="etl-dashboard"')), `${panel.title}: a query of this release's runs`);
    }
    const plain = renderChart({ helm: helmBin(), release: 'etl', namespace: 'data', values: {} });
    assert.equal(plain.filter((object) => object.kind === 'ConfigMap' && (object.metadata as { name: string }).name.endsWith('-dashboard')).length, 0);
  });

  it('after real runs, every panel query gives what the runs\' summaries say', async (t) => {
    const { env, dir, service, failedKey } = await metricsWorkspace(t, 'dashboard', 717);
    const start = Math.floor(Date.now() / 1000) - 1;
    const first = await runCli(['run'], env);
    assert.equal(first.code, 3, first.stdout.slice(-2000));
    await sleep(1500); // the two runs' samples a step apart
    await unlink(path.join(dir, failedKey));
    const second = await runCli(['run'], env);
    assert.equal(second.code, 0, second.stdout.slice(-2000));
    const runs = [summaryOf(first), summaryOf(second)];

    const { dashboard } = renderedDashboard(service);
    // Grafana's $__range, for the test's time range (the runs' minute, rounded up).
    const end = Math.ceil(Date.now() / 1000) + 1;
    const range = `${end - start + 60}s`;
    const results: PanelResult[] = [];
    for (const panel of dashboard.panels) {
      const unit = panel.fieldConfig.defaults.unit;
      const target = panel.targets[0]!;
      const expr = target.expr.replaceAll('$__range', range);
      if (panel.type === 'stat') {
        let samples: Array<{ value: [number, string] }> = [];
        for (let tries = 0; samples.length === 0 && tries < 50; tries++, await sleep(200)) samples = await prometheus('query', { query: expr, time: String(end) });
        assert.equal(samples.length, 1, `${panel.title}: ${expr} gives one value`);
        results.push({ title: panel.title, kind: 'stat', unit, grid: panel.gridPos, value: Number(samples[0]!.value[1]) });
      } else {
        const series = await prometheus<Series>('query_range', { query: expr, start: String(start), end: String(end), step: '1' });
        assert.ok(series.length > 0, `${panel.title}: ${expr} gives series`);
        results.push({
          title: panel.title,
          kind: 'timeseries',
          unit,
          grid: panel.gridPos,
          // A run's point is where its sample appears (Prometheus repeats it for the lookback after).
          series: series.map((entry) => ({
            name: target.legendFormat.replace(/\{\{(\w+)\}\}/g, (_, label: string) => entry.metric[label] ?? ''),
            points: entry.values.filter((value, at) => at === 0 || value[1] !== entry.values[at - 1]![1]).map(([time, value]) => [time, Number(value)] as [number, number]),
          })),
        });
      }
    }
    const stat = (title: string) => results.find((result) => result.title === title)!.value!;
    const lines = (title: string) => Object.fromEntries(results.find((result) => result.title === title)!.series!.map((entry) => [entry.name, entry.points.map((point) => point[1])]));
    assert.equal(stat("Last run's exit code"), 0);
    assert.ok(stat('Time since the last successful run') >= 0 && stat('Time since the last successful run') < 120);
    assert.equal(stat('Objects failed in the ledger'), 0);
    assert.equal(stat('Runs in the time range'), 2);
    assert.equal(stat("Last run's duration"), runs[1]!.duration_seconds);
    assert.deepEqual(lines('Exit code of each run'), { 'exit code': [3, 0] });
    const files = lines('Files of each run by outcome');
    for (const outcome of ['loaded', 'failed', 'unchanged', 'gone']) {
      assert.deepEqual(files[outcome]!.filter((value, at, all) => at === 0 || value !== all[at - 1]), [...new Set(runs.map((run) => run.files[outcome]))], `files ${outcome}`);
    }
    assert.deepEqual(lines('Rows loaded and quarantined'), {
      loaded: [...new Set(runs.map((run) => run.rows['loaded']))],
      quarantined: [...new Set(runs.map((run) => run.rows['quarantined']))],
    });
    assert.deepEqual(lines('Run duration')['duration'], runs.map((run) => run.duration_seconds));
    const picture = process.env['DASHBOARD_PICTURE'];
    if (picture) {
      const note = `Drawn by docs/dashboard-picture.ts from the panels' query results on the test Prometheus after two real runs (test/dashboard.test.ts); not a Grafana screenshot.`;
      writeFileSync(picture, drawDashboard(dashboard.title, results, note) + '\n');
    }
  });
});
