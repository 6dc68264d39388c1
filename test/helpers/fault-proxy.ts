// A small HTTP proxy for tests that sits in front of the real MinIO and injects faults: answers
// 503 SlowDown to the next N requests, or cuts the connection after N bytes of an object's body.
// It forwards requests untouched (Host included, so SigV4 signatures stay valid) and records
// every request it saw, with its Range header.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  /** Path and query as sent (path-style: /bucket/key). */
  url: string;
  range?: string;
  ifMatch?: string;
  /** What the proxy did: 'forwarded', '503', or 'cut after N bytes'. */
  action: string;
  status?: number;
}

export interface FaultProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  requests: SeenRequest[];
  /**
   * The next `count` requests (matching `match`, default all) are answered 503 with the S3 error
   * `code`: SlowDown (throttling; the SDK backs off from 500 ms) or ServiceUnavailable (from 100 ms).
   */
  fail503(count: number, code?: 'SlowDown' | 'ServiceUnavailable', match?: (request: http.IncomingMessage) => boolean): void;
  /** The next GET whose path ends with `keySuffix` gets its body cut after `bytes` bytes. */
  cutAfter(bytes: number, keySuffix: string): void;
  /** The next GET whose path ends with `keySuffix` sends `bytes` bytes of its body, then nothing (the connection stays open). */
  stallAfter(bytes: number, keySuffix: string): void;
  /** Drops all pending faults. */
  clear(): void;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const requests: SeenRequest[] = [];
  let failures: Array<{ left: number; code: string; match: (request: http.IncomingMessage) => boolean }> = [];
  let cuts: Array<{ bytes: number; suffix: string; stall: boolean }> = [];

  const server = http.createServer((request, response) => {
    const seen: SeenRequest = { method: request.method ?? 'GET', url: request.url ?? '/', action: 'forwarded' };
    if (typeof request.headers.range === 'string') seen.range = request.headers.range;
    if (typeof request.headers['if-match'] === 'string') seen.ifMatch = request.headers['if-match'];
    requests.push(seen);

    const failure = failures.find((rule) => rule.left > 0 && rule.match(request));
    if (failure) {
      failure.left--;
      seen.action = '503';
      seen.status = 503;
      request.resume();
      response.writeHead(503, { 'content-type': 'application/xml', 'retry-after': '0' });
      response.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${failure.code}</Code><Message>Injected by the test proxy.</Message></Error>`);
      return;
    }
    const path = decodeURIComponent((request.url ?? '/').split('?')[0]!);
    const cutIndex = request.method === 'GET' ? cuts.findIndex((cut) => path.endsWith(cut.suffix)) : -1;
    const cut = cutIndex >= 0 ? cuts.splice(cutIndex, 1)[0] : undefined;

    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: request.headers },
      (answer) => {
        seen.status = answer.statusCode;
        response.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
        if (!cut) {
          answer.pipe(response);
          return;
        }
        seen.action = `${cut.stall ? 'stalled' : 'cut'} after ${cut.bytes} bytes`;
        let sent = 0;
        let done = false;
        answer.on('data', (chunk: Buffer) => {
          if (done) return;
          const room = cut.bytes - sent;
          if (chunk.length < room) {
            sent += chunk.length;
            response.write(chunk);
            return;
          }
          done = true;
          answer.destroy();
          // Hand the last bytes to the socket, then drop the connection mid-body (or just stop).
          response.write(chunk.subarray(0, room), () => {
            if (!cut.stall) response.socket?.destroy();
          });
        });
        answer.on('end', () => {
          if (!done) response.end();
        });
      },
    );
    forward.on('error', () => response.socket?.destroy());
    request.pipe(forward);
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    fail503(count, code = 'SlowDown', match = () => true) {
      failures.push({ left: count, code, match });
    },
    cutAfter(bytes, keySuffix) {
      cuts.push({ bytes, suffix: keySuffix, stall: false });
    },
    stallAfter(bytes, keySuffix) {
      cuts.push({ bytes, suffix: keySuffix, stall: true });
    },
    clear() {
      failures = [];
      cuts = [];
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
