// Prints the README's configuration table from the convict schema, so the two cannot drift
// (test/readme.test.ts checks the README holds exactly this table).
import { configSchema } from '../src/config/schema.ts';

export function configTable(): string {
  const rows = ['| config file key | environment | command line | default | what it is |', '|---|---|---|---|---|'];
  for (const [key, entry] of Object.entries(configSchema) as Array<[string, { doc: string; default: unknown; env?: string; arg?: string; sensitive?: boolean }]>) {
    const fallback = entry.default === '' ? '(empty)' : `\`${String(entry.default)}\``;
    const doc = entry.sensitive ? `${entry.doc} Secret: never logged.` : entry.doc;
    rows.push(`| \`${key}\` | ${entry.env ? `\`${entry.env}\`` : ''} | ${entry.arg ? `\`--${entry.arg}\`` : ''} | ${fallback} | ${doc.replace(/\|/g, '\\|')} |`);
  }
  return rows.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(configTable() + '\n');
