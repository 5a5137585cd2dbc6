import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One request as the receiver saw it, with the outcome of Standard Webhooks verification. */
export interface ReceivedWebhook {
  path: string;
  headers: Record<string, string>;
  body: string;
  verified: boolean;
  /** The payload as `Webhook.verify` returned it (null when verification failed). */
  payload: unknown;
  verify_error: string | null;
  status: number;
}

/** What the receiver answers, in order; once the script runs out it answers 200. */
export type Reply = number | { status: number; location: string } | 'hang';

/**
 * A real HTTP receiver on 127.0.0.1 that verifies every request with the reference library, exactly as a customer's
 * server would, and records it. A request that fails verification is answered 401.
 */
export interface Receiver {
  url(path: string): string;
  /** The secret `path` verifies with (from registerEndpoint). Unknown paths answer 404. */
  accept(path: string, secret: string): void;
  script(path: string, ...replies: Reply[]): void;
  received(path?: string): ReceivedWebhook[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const secrets = new Map<string, string>();
  const scripts = new Map<string, Reply[]>();
  const log: ReceivedWebhook[] = [];
  const hanging = new Set<ServerResponse>();

  const server = createServer((req, res) => {
    void readBody(req).then((body) => handle(req, res, body));
  });

  function handle(req: IncomingMessage, res: ServerResponse, body: string) {
    const path = req.url ?? '/';
    const headers = Object.fromEntries(
      Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
    const secret = secrets.get(path);
    let entry: ReceivedWebhook = { path, headers, body, verified: false, payload: null, verify_error: null, status: 404 };
    if (secret !== undefined) {
      try {
        entry = { ...entry, verified: true, payload: new Webhook(secret).verify(body, headers), status: 200 };
      } catch (err) {
        entry = { ...entry, verify_error: (err as Error).message, status: 401 };
      }
    }
    log.push(entry);
    const reply = entry.verified ? scripts.get(path)?.shift() ?? 200 : entry.status;
    if (reply === 'hang') {
      hanging.add(res);
      return;
    }
    entry.status = typeof reply === 'number' ? reply : reply.status;
    if (typeof reply === 'object') res.setHeader('location', reply.location);
    res.writeHead(entry.status, { 'content-type': 'text/plain' });
    res.end(entry.verified ? `answer ${entry.status}` : `rejected: ${entry.verify_error ?? 'unknown path'}`);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    accept: (path, secret) => void secrets.set(path, secret),
    script: (path, ...replies) => void scripts.set(path, [...(scripts.get(path) ?? []), ...replies]),
    received: (path) => log.filter((r) => path === undefined || r.path === path),
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
