import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CloudEvent } from '../../src/targets/webhook';

/**
 * A webhook receiver as a deploy tool would write one: checks the Standard
 * Webhooks signature and timestamp, de-duplicates by event id, and records
 * the events in arrival order. `failFor` makes it answer 500 to event types.
 */
export interface Receiver {
  url: string;
  events: CloudEvent[];
  /** Deliveries counted per event id (a retried delivery repeats its id). */
  deliveries: Map<string, number>;
  badSignatures: number;
  rawBodies: string[];
  failFor: Set<string>;
  close(): Promise<void>;
}

export async function startReceiver(key: Buffer): Promise<Receiver> {
  const r: Receiver = {
    url: '',
    close: async () => undefined,
    events: [],
    deliveries: new Map(),
    badSignatures: 0,
    rawBodies: [],
    failFor: new Set(),
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      const id = String(req.headers['webhook-id'] ?? '');
      const ts = String(req.headers['webhook-timestamp'] ?? '');
      const sig = String(req.headers['webhook-signature'] ?? '');
      const expected = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest();
      const given = Buffer.from(sig.replace(/^v1,/, ''), 'base64');
      const fresh = Math.abs(Date.now() / 1000 - Number(ts)) < 300;
      if (!fresh || given.length !== expected.length || !timingSafeEqual(given, expected)) {
        r.badSignatures++;
        res.writeHead(401).end();
        return;
      }
      r.rawBodies.push(body);
      const ce = JSON.parse(body) as CloudEvent;
      if (ce.id !== id || req.headers['content-type']?.startsWith('application/cloudevents+json') !== true) {
        res.writeHead(400).end();
        return;
      }
      r.deliveries.set(id, (r.deliveries.get(id) ?? 0) + 1);
      if (r.failFor.has(ce.data.event)) {
        res.writeHead(500).end();
        return;
      }
      if (!r.events.some((e) => e.id === ce.id)) r.events.push(ce);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  r.url = `http://127.0.0.1:${port}/hooks/rotation`;
  r.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return r;
}
