// Writes the values table of the chart's README (charts/toshiba-etl/README.md, what `helm show
// readme` prints) from the comments of values.yaml, helm-docs style: a `# -- ` comment describes
// the key under it; a map with a description of its own is one row, other maps are opened.
//
//   node scripts/chart-readme.ts           rewrite the table between the README's markers
//   node scripts/chart-readme.ts --check   exit 1 when the README's table is not what values.yaml gives
//
// test/chart.test.ts runs the check, so the README cannot drift from values.yaml.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, type Node, type Pair, type YAMLMap } from 'yaml';

const chartDir = path.resolve(import.meta.dirname, '..', 'charts', 'toshiba-etl');
export const chartReadmeFile = path.join(chartDir, 'README.md');
const START = '<!-- values-table:start (generated from values.yaml by `node scripts/chart-readme.ts`; test/chart.test.ts keeps it in sync) -->';
const END = '<!-- values-table:end -->';

/** The text from the last `-- ` line of a comment on: the key's description (helm-docs' convention). */
function description(comment: string | null | undefined): string | undefined {
  if (!comment) return undefined;
  const lines = comment.split('\n').map((line) => line.replace(/^ /, ''));
  const start = lines.findLastIndex((line) => line.startsWith('-- '));
  if (start < 0) return undefined;
  return lines.slice(start).map((line, i) => (i === 0 ? line.slice(3) : line).trim()).filter((line) => line !== '').join(' ');
}

function shown(node: Node | null): string {
  const value: unknown = isScalar(node) ? node.value : node?.toJSON();
  if (typeof value === 'string') return value === '' ? '`""`' : `\`${value}\``;
  return `\`${JSON.stringify(value ?? null)}\``;
}

function documentsKeys(map: YAMLMap): boolean {
  return map.items.some((item, index) => description(index === 0 ? ((item as Pair<Node>).key.commentBefore ?? map.commentBefore) : (item as Pair<Node>).key.commentBefore) !== undefined);
}

function rows(map: YAMLMap, prefix: string, firstComment: string | null | undefined): string[] {
  const out: string[] = [];
  map.items.forEach((item, index) => {
    const pair = item as Pair<Node, Node | null>;
    const key = `${prefix}${String((pair.key as { value?: unknown }).value)}`;
    // The comment above a map's first key belongs to the map node in the yaml library's tree.
    const text = description(index === 0 ? (pair.key.commentBefore ?? firstComment) : pair.key.commentBefore);
    const value = pair.value;
    // A map is opened into its keys unless it has a description and none of its keys has one
    // (a securityContext is one value); an opened map's own description gets a row of its own.
    if (isMap(value) && value.items.length > 0 && (text === undefined || documentsKeys(value))) {
      if (text !== undefined) out.push(`| \`${key}\` | map | | ${text.replace(/\|/g, '\\|')} |`);
      out.push(...rows(value, `${key}.`, value.commentBefore));
      return;
    }
    const cell = (text ?? '').replace(/\|/g, '\\|');
    out.push(`| \`${key}\` | ${isSeq(value) ? 'list' : isMap(value) ? 'map' : typeof (isScalar(value) ? value.value : null)} | ${shown(value)} | ${cell} |`);
  });
  return out;
}

export function valuesTable(valuesYaml = readFileSync(path.join(chartDir, 'values.yaml'), 'utf8')): string {
  const doc = parseDocument(valuesYaml);
  if (!isMap(doc.contents)) throw new Error('values.yaml is not a map');
  return ['| key | type | default | what it is |', '|---|---|---|---|', ...rows(doc.contents, '', doc.contents.commentBefore)].join('\n');
}

/** The README with its values table replaced by what values.yaml gives. */
export function readmeWithTable(readme: string, table = valuesTable()): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${chartReadmeFile} lacks the markers ${START} ... ${END}`);
  return `${readme.slice(0, start)}${START}\n${table}\n${readme.slice(end)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const readme = readFileSync(chartReadmeFile, 'utf8');
  const wanted = readmeWithTable(readme);
  if (process.argv.includes('--check')) {
    if (wanted !== readme) {
      process.stderr.write(`${chartReadmeFile} is not what values.yaml gives: run \`node scripts/chart-readme.ts\`.\n`);
      process.exit(1);
    }
  } else {
    writeFileSync(chartReadmeFile, wanted);
  }
}
