// The README is the front door: its configuration table is the schema's, and the commands it
// shows exist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configTable } from '../scripts/config-table.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };

test('the README configuration table is exactly the schema (node scripts/config-table.ts)', () => {
  const start = readme.indexOf('-->', readme.indexOf('<!-- config-table:start')) + 3;
  const end = readme.indexOf('<!-- config-table:end -->');
  assert.ok(start > 2 && end > start, 'the README has the config-table markers');
  assert.equal(readme.slice(start, end).trim(), configTable());
});

test('every npm script the README shows exists', () => {
  const shown = new Set([...readme.matchAll(/npm run ([a-z:-]+)/g)].map((match) => match[1]!));
  assert.ok(shown.has('demo') && shown.has('bench'));
  for (const script of shown) assert.ok(pkg.scripts[script], `package.json has no script "${script}"`);
  assert.ok(pkg.scripts.test, 'npm test exists');
});
