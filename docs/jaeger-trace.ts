// Draws one trace, as Jaeger's query API returns it, into an HTML page for docs/jaeger-trace.png:
//   node docs/jaeger-trace.ts <jaeger-query-url> <trace-id> > /tmp/trace.html
//   chromium --headless ... --window-size=1400,900 --screenshot=docs/jaeger-trace.png file:///tmp/trace.html
// (The test Jaeger is built from its Go module, which carries no UI assets: its web UI is a
// placeholder page. This page shows the same data the Jaeger UI's trace view shows.)
import { inError, parentOf, tags, type JaegerSpan as Span, type JaegerTrace as Trace } from '../test/helpers/jaeger.ts';

const [base, traceId] = process.argv.slice(2);
if (!base || !traceId) {
  process.stderr.write('usage: node docs/jaeger-trace.ts <jaeger-query-url> <trace-id>\n');
  process.exit(2);
}
const response = await fetch(`${base}/api/traces/${traceId}`);
if (!response.ok) throw new Error(`GET ${base}/api/traces/${traceId}: HTTP ${response.status}`);
const trace = ((await response.json()) as { data: Trace[] }).data[0]!;

const escape = (text: unknown) => String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const ms = (micros: number) => (micros >= 1000 ? `${(micros / 1000).toFixed(micros >= 100_000 ? 0 : 1)} ms` : `${micros} µs`);

// Depth-first order, children by start time, as a trace view lists them.
const children = new Map<string | undefined, Span[]>();
for (const span of trace.spans) children.set(parentOf(span), [...(children.get(parentOf(span)) ?? []), span]);
for (const list of children.values()) list.sort((a, b) => a.startTime - b.startTime || a.operationName.localeCompare(b.operationName));
const rows: Array<{ span: Span; depth: number }> = [];
const visit = (id: string | undefined, depth: number) => {
  for (const span of children.get(id) ?? []) {
    rows.push({ span, depth });
    visit(span.spanID, depth + 1);
  }
};
visit(undefined, 0);

const root = rows[0]!.span;
const start = Math.min(...trace.spans.map((span) => span.startTime));
const end = Math.max(...trace.spans.map((span) => span.startTime + span.duration));
const total = end - start;
const service = trace.processes[root.processID]!.serviceName;
const resource = tags(trace.processes[root.processID]!.tags);
const depth = Math.max(...rows.map((row) => row.depth)) + 1;
const colour: Record<string, string> = {
  'etl.run': '#1f6feb',
  'etl.file': '#0b8f7a',
  'etl.download': '#8250df',
  'etl.parse': '#bf8700',
  'etl.copy': '#d1742f',
  'etl.merge': '#2da44e',
  'etl.record': '#6e7781',
};
const label = (span: Span) => {
  const attributes = tags(span.tags);
  if (span.operationName === 'etl.file') return String(attributes['etl.object.key']);
  if (span.operationName === 'etl.run') return `${attributes['etl.files.loaded']} loaded, ${attributes['etl.files.failed']} failed, ${attributes['etl.rows.read']} rows`;
  if (span.operationName === 'etl.parse') return `${attributes['etl.rows.read']} rows${attributes['etl.rows.quarantined'] ? `, ${attributes['etl.rows.quarantined']} quarantined` : ''}`;
  return '';
};

const rowHtml = rows
  .map(({ span, depth: level }) => {
    const left = ((span.startTime - start) / total) * 100;
    const width = Math.max((span.duration / total) * 100, 0.15);
    const error = inError(span);
    const text = label(span);
    return `<div class="row${error ? ' error' : ''}">
  <div class="name" style="padding-left:${8 + level * 16}px">${error ? '<span class="bang">!</span>' : ''}<b>${escape(span.operationName)}</b>${text ? ` <span class="sub">${escape(text)}</span>` : ''}</div>
  <div class="lane"><div class="bar" style="left:${left}%;width:${width}%;background:${error ? '#cf222e' : colour[span.operationName] ?? '#57606a'}"></div>${
      left + width <= 85
        ? `<span class="dur" style="left:calc(${left + width}% + 6px)">${ms(span.duration)}</span>`
        : width > 8
          ? `<span class="dur in" style="right:calc(${100 - left - width}% + 6px)">${ms(span.duration)}</span>`
          : `<span class="dur" style="right:calc(${100 - left}% + 6px)">${ms(span.duration)}</span>`
    }</div>
</div>`;
  })
  .join('\n');

const failed = rows.map((row) => row.span).find((span) => span.operationName === 'etl.file' && inError(span));
let details = '';
if (failed) {
  const attributes = tags(failed.tags);
  const exception = failed.logs.map((log) => tags(log.fields)).find((fields) => fields.event === 'exception');
  const shown = ['etl.object.key', 'etl.object.size', 'etl.object.version', 'etl.error.class', 'etl.rows.read', 'etl.file.status', 'otel.status_code'];
  details = `<div class="details"><div class="dtitle"><span class="bang">!</span> etl.file — ${escape(attributes['etl.object.key'])}</div>
<table>${shown.map((key) => `<tr><td class="k">${key}</td><td>${escape(attributes[key])}</td></tr>`).join('')}</table>
${exception ? `<div class="exc">event <b>exception</b>: exception.type = <b>${escape(exception['exception.type'])}</b>; exception.message = ${escape(exception['exception.message'])}</div>` : ''}</div>`;
}

const ticks = [0, 0.25, 0.5, 0.75, 1]
  .map((share) => `<span style="left:${share * 100}%;transform:translateX(${share === 0 ? '0' : share === 1 ? '-100%' : '-50%'})">${ms(Math.round(total * share))}</span>`)
  .join('');

process.stdout.write(`<!doctype html><html><head><meta charset="utf-8"><style>
body { margin: 0; font: 12px/1.3 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #24292f; background: #fff; }
.head { padding: 10px 16px 8px; border-bottom: 1px solid #d0d7de; background: #f6f8fa; }
.title { font-size: 17px; font-weight: 600; } .title .id { color: #57606a; font-weight: 400; font-size: 13px; margin-left: 8px; }
.meta { margin-top: 4px; color: #57606a; } .meta b { color: #24292f; margin-right: 14px; font-weight: 600; }
.source { float: right; color: #57606a; font-size: 11px; margin-top: 4px; }
.axis { display: flex; border-bottom: 1px solid #d0d7de; color: #57606a; font-size: 11px; }
.axis .name { width: 430px; padding: 3px 8px; box-sizing: border-box; }
.axis .lane { position: relative; flex: 1; height: 18px; margin-right: 70px; } .axis .lane span { position: absolute; top: 3px; white-space: nowrap; }
.row { display: flex; height: 17px; border-bottom: 1px solid #f0f2f4; }
.row.error { background: #fff5f5; }
.name { width: 430px; box-sizing: border-box; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; border-right: 1px solid #d0d7de; line-height: 17px; }
.name b { font-weight: 600; } .sub { color: #57606a; }
.lane { position: relative; flex: 1; margin-right: 70px; }
.bar { position: absolute; top: 3px; height: 11px; border-radius: 2px; }
.dur { position: absolute; top: 2px; color: #57606a; font-size: 10.5px; white-space: nowrap; } .dur.in { color: #fff; top: 2px; }
.bang { display: inline-block; width: 13px; height: 13px; line-height: 13px; border-radius: 7px; background: #cf222e; color: #fff; text-align: center; font-weight: 700; font-size: 10px; margin-right: 5px; vertical-align: 1px; }
.details { margin: 8px 16px; border: 1px solid #ffcecb; border-radius: 4px; padding: 6px 10px; background: #fffafa; }
.dtitle { font-weight: 600; margin-bottom: 4px; } table { border-collapse: collapse; } td { padding: 1px 10px 1px 0; } td.k { color: #57606a; font-family: ui-monospace, Menlo, monospace; }
.exc { margin-top: 4px; }
</style></head><body>
<div class="head"><div class="source">trace read back from the test Jaeger (v1.76.0) through its query API, /api/traces/${escape(trace.traceID)}</div>
<div class="title">${escape(service)}: ${escape(root.operationName)}<span class="id">${escape(trace.traceID)}</span></div>
<div class="meta">Trace start <b>${new Date(start / 1000).toISOString().replace('T', ' ').slice(0, 23)}</b> Duration <b>${ms(total)}</b> Services <b>1</b> Depth <b>${depth}</b> Total spans <b>${trace.spans.length}</b> service.version <b>${escape(resource['service.version'])}</b> k8s.job.name <b>${escape(resource['k8s.job.name'] ?? '-')}</b></div></div>
<div class="axis"><div class="name">Service &amp; operation</div><div class="lane">${ticks}</div></div>
${rowHtml}
${details}
</body></html>
`);
