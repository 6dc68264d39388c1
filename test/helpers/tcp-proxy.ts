// A TCP proxy for fault tests, between the runner and a real server (Postgres): it forwards bytes
// both ways until told to cut every connection (both sockets destroyed, as a network cut or a
// restarted load balancer does) or to stall them (bytes stop moving both ways while the sockets
// stay open, as a hung proxy or a silently dropping network does; new connections stall too).
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpProxy {
  /** The address it listens on (127.0.0.1 unless told) and its port, as host and port of a URL. */
  host: string;
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Destroys every open connection; new ones are forwarded again. */
  cut(): void;
  /** Stops moving bytes on every connection, open or new, until resume(). */
  stall(): void;
  resume(): void;
  close(): Promise<void>;
}

/** Listens on `listenHost` (loopback unless given: the test cluster's pods reach the host on its bridge). */
export async function startTcpProxy(targetHost: string, targetPort: number, listenHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<{ client: net.Socket; server: net.Socket }>();
  let stalled = false;
  let accepted = 0;
  const held: Array<() => void> = [];
  const forward = (from: net.Socket, to: net.Socket) => {
    from.on('data', (chunk: Buffer) => {
      if (!stalled) {
        to.write(chunk);
        return;
      }
      // Stalled: keep the bytes back (and stop reading) until resume().
      from.pause();
      held.push(() => {
        to.write(chunk);
        from.resume();
      });
    });
  };
  const server = net.createServer((client) => {
    accepted++;
    const upstream = net.connect(targetPort, targetHost);
    const pair = { client, server: upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, listenHost, resolve));
  const { port } = server.address() as AddressInfo;
  const cut = () => {
    for (const pair of pairs) {
      pair.client.destroy();
      pair.server.destroy();
    }
    pairs.clear();
  };
  return {
    host: listenHost,
    port,
    get accepted() {
      return accepted;
    },
    cut,
    stall() {
      stalled = true;
    },
    resume() {
      stalled = false;
      for (const release of held.splice(0)) release();
    },
    async close() {
      cut();
      stalled = false;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
