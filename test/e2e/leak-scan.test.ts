import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDecipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { WORKFLOW_BUNDLE_PATH } from '../helpers/temporal';
import { parseKeyring } from '../../src/store/crypto';
import { LEAK_DIR } from '../helpers/leak-ledger';
import { services } from '../helpers/services';

/**
 * Runs after the whole suite (scripts/test.sh): every password generated or
 * imported by any test must appear nowhere in what Temporal stored — raw
 * histories, and histories with every payload DECRYPTED with the tests' codec
 * keys — nor in search attributes, nor in the captured worker logs.
 */
function readLedger(kind: string): string[] {
  if (!existsSync(LEAK_DIR)) return [];
  return readdirSync(LEAK_DIR)
    .filter((f) => f.startsWith(`${kind}-`))
    .flatMap((f) => readFileSync(join(LEAK_DIR, f), 'utf8').split('\n'))
    .filter((l) => l.length > 0);
}

const ENCRYPTED = Buffer.from('binary/encrypted').toString('base64');

/** The base64 data of every payload in a (JSON) history that our codec encrypted. */
function encryptedPayloads(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) encryptedPayloads(n, out);
  else if (node && typeof node === 'object') {
    const o = node as { metadata?: { encoding?: unknown }; data?: unknown };
    if (o.metadata?.encoding === ENCRYPTED && typeof o.data === 'string') out.push(o.data);
    else for (const v of Object.values(node)) encryptedPayloads(v, out);
  }
  return out;
}

function tryDecrypt(data: Buffer, keys: Buffer[]): string | undefined {
  return tryDecryptBytes(data, keys)?.toString('utf8');
}

describe('secret leak scan over everything the suite left in Temporal', () => {
  it('no generated or imported password appears in any history (raw or decrypted), search attribute or worker log', async () => {
    const secrets = [...new Set(readLedger('secrets').map((l) => JSON.parse(l) as string))].filter(
      (s) => s.length >= 8,
    );
    const keys = readLedger('codec-keys').flatMap((spec) => Object.values(parseKeyring(spec).keys));
    const logs = readLedger('logs').join('\n');
    expect(secrets.length, 'the suite recorded the passwords it generated').toBeGreaterThan(50);
    const startedAt = readFileSync(join(LEAK_DIR, 'started-at'), 'utf8').trim();

    const connection = await Connection.connect({ address: services.temporalAddress });
    // Memos (the published status) are encrypted like every payload; listing decodes them.
    const client = new Client({
      connection,
      dataConverter: { payloadCodecs: [new AnyKeyCodec(keys, true)] },
    });
    let histories = 0;
    let decrypted = 0;
    let undecryptable = 0;
    const hits: string[] = [];
    try {
      for await (const wf of client.workflow.list({ query: `StartTime >= '${startedAt}'` })) {
        const handle = client.workflow.getHandle(wf.workflowId, wf.runId);
        const history = await handle.fetchHistory();
        const raw = JSON.stringify(history);
        const plain: string[] = [];
        for (const payload of encryptedPayloads(JSON.parse(raw))) {
          const text = tryDecrypt(Buffer.from(payload, 'base64'), keys);
          if (text === undefined) undecryptable++;
          else {
            decrypted++;
            plain.push(text);
          }
        }
        const described = JSON.stringify(await handle.describe(), (_k, v: unknown) =>
          typeof v === 'bigint' ? v.toString() : v,
        );
        const everything = raw + plain.join('\n') + described;
        for (const s of secrets)
          if (everything.includes(s)) hits.push(`${wf.workflowId}: a password of length ${s.length}`);
        histories++;
      }
    } finally {
      await connection.close();
    }
    for (const s of secrets) if (logs.includes(s)) hits.push(`worker logs: a password of length ${s.length}`);
    console.log(
      `leak scan: ${secrets.length} passwords × ${histories} histories (${decrypted} payloads decrypted, ${undecryptable} with other keys) and ${logs.length} bytes of worker logs`,
    );
    expect(histories).toBeGreaterThan(20);
    expect(decrypted).toBeGreaterThan(100);
    expect(hits).toEqual([]);
  });
});

/** Decodes with whichever of the suite's codec keys opens a payload (rigs reuse key ids). */
class AnyKeyCodec implements PayloadCodec {
  /** `lenient`: a payload no key opens becomes JSON null (for listing memos) instead of an error. */
  constructor(
    private readonly keys: Buffer[],
    private readonly lenient = false,
  ) {}
  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads;
  }
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      const enc = p.metadata?.encoding;
      if (!enc || Buffer.from(enc).toString() !== 'binary/encrypted' || !p.data) return p;
      const plain = tryDecryptBytes(Buffer.from(p.data), this.keys);
      if (!plain) {
        if (this.lenient)
          return { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('null') };
        throw new Error('payload encrypted with a key the suite did not record');
      }
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}

function tryDecryptBytes(data: Buffer, keys: Buffer[]): Buffer | undefined {
  const iv = data.subarray(0, 12);
  const tag = data.subarray(data.length - 16);
  const body = data.subarray(12, data.length - 16);
  for (const key of keys) {
    try {
      const d = createDecipheriv('aes-256-gcm', key, iv);
      d.setAuthTag(tag);
      return Buffer.concat([d.update(body), d.final()]);
    } catch {
      // not this key
    }
  }
  return undefined;
}

describe('every workflow history the suite left replays (issue 11, item 2)', () => {
  it('replays every rotation, fleet and launcher history of the run against the current workflow code', async () => {
    const keys = [
      ...readLedger('codec-keys').flatMap((spec) => Object.values(parseKeyring(spec).keys)),
      // The fixed test key (testKeyring) used by rigs without a keyring of their own.
      ...Object.values((await import('../helpers/temporal')).testKeyring().keys),
    ];
    const startedAt = readFileSync(join(LEAK_DIR, 'started-at'), 'utf8').trim();
    const connection = await Connection.connect({ address: services.temporalAddress });
    const client = new Client({
      connection,
      dataConverter: { payloadCodecs: [new AnyKeyCodec(keys, true)] },
    });
    const histories: Array<{ workflowId: string; history: unknown }> = [];
    const types = new Map<string, string>();
    const failures: string[] = [];
    let replayed = 0;
    try {
      for await (const wf of client.workflow.list({ query: `StartTime >= '${startedAt}'` })) {
        // The upgrade test runs builds that differ from this one on purpose; only the
        // product's workflows are in scope (tests also run scaffolding with keys of their own).
        if (wf.taskQueue.startsWith('upgrade')) continue;
        if (!['rotateCredential', 'rotateFleet', 'scheduledRotation'].includes(wf.type)) continue;
        const id = `${wf.workflowId} ${wf.runId}`;
        types.set(id, wf.type);
        histories.push({
          workflowId: id,
          history: await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory(),
        });
      }
    } finally {
      await connection.close();
    }
    const results = Worker.runReplayHistories(
      {
        workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH },
        dataConverter: { payloadCodecs: [new AnyKeyCodec(keys)] },
      },
      histories as Parameters<typeof Worker.runReplayHistories>[1],
    );
    for await (const r of results) {
      replayed++;
      if (r.error)
        failures.push(`${r.workflowId} (${types.get(r.workflowId)}): ${String(r.error).slice(0, 400)}`);
    }
    console.log(`replay: ${replayed} histories of the run replayed, ${failures.length} failed`);
    expect(replayed).toBeGreaterThan(20);
    expect(failures).toEqual([]);
  });
});
