/**
 * The Temporal Web UI (dev server, 8233) shows a rotation readably through
 * our codec server (issue 16, item 5): headless Debian Chromium driven by
 * playwright-core, the UI's codec endpoint set in the browser, the codec
 * server in loopback mode (no static token: the UI cannot send one). A
 * failed rotation's cause and a running rotation's input must be readable
 * text, not "Encoded failure" / encrypted blobs.
 */
import type { Server } from 'node:http';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { escapeIdentifier } from 'pg';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCodecServer } from '../../src/codec/server';
import { parseKeyring } from '../../src/store';
import { freshPg, type PgNamespace } from '../helpers/pg';
import { addPgAdmin, addPgApp } from '../helpers/pg-rig';
import { createRotationRig, type RotationRig } from '../helpers/rotation';
import { devServerEnv } from '../helpers/temporal';

const UI = process.env.TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let env: TestWorkflowEnvironment;
let rig: RotationRig;
let pg: PgNamespace;
let codec: Server;
let codecUrl: string;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (apt package chromium)`);
  env = await devServerEnv();
  rig = await createRotationRig(env);
  pg = await freshPg();
  codec = createCodecServer({
    keyring: parseKeyring(rig.env.ROTATOR_CODEC_KEYS!),
    corsOrigin: UI,
    auth: { mode: 'loopback' },
  });
  await new Promise<void>((r) => codec.listen(0, '127.0.0.1', r));
  codecUrl = `http://127.0.0.1:${(codec.address() as { port: number }).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  codec?.close();
  await rig?.close();
  await pg?.cleanup();
  await env?.teardown();
});

async function pageText(workflowId: string, runId: string, expected: RegExp): Promise<string> {
  const page = await browser.newPage();
  try {
    await page.goto(`${UI}/namespaces/default/workflows`);
    // The UI keeps its codec setting in localStorage ("endpoint", "overrideRemoteCodecConfiguration").
    await page.evaluate(
      `localStorage.setItem('endpoint', ${JSON.stringify(JSON.stringify(codecUrl))});` +
        `localStorage.setItem('overrideRemoteCodecConfiguration', 'true');`,
    );
    const url = `${UI}/namespaces/default/workflows/${encodeURIComponent(workflowId)}/${runId}/history`;
    await page.goto(url);
    const deadline = Date.now() + 60_000;
    let text = '';
    while (Date.now() < deadline) {
      text = (await page.evaluate('document.body.innerText')) as string;
      if (expected.test(text)) return text;
      await page.waitForTimeout(1000);
    }
    return text;
  } finally {
    await page.close();
  }
}

describe('Temporal Web UI through the codec server (headless Chromium)', () => {
  it("a failed rotation's cause and a running rotation's input are readable", async () => {
    const adminId = await addPgAdmin(rig, pg);
    // a failing rotation: an admin without CREATEROLE
    const weakPw = 'weak-admin-Pw1';
    const weak = await pg.createLogin('weak', weakPw);
    await pg.admin.query(
      `GRANT CONNECT ON DATABASE ${escapeIdentifier(pg.database)} TO ${escapeIdentifier(weak)}`,
    );
    const weakId = await addPgAdmin(rig, pg, undefined, { username: weak, password: weakPw });
    const failing = await addPgApp(rig, pg, adminId, 'failing');
    const def = await rig.store.getDefinition(failing.id);
    await rig.store.putDefinition({ ...def, adminCredentialId: weakId }, 'test');
    const h1 = await rig.start({ credentialId: failing.id });
    await h1.result().catch(() => undefined);
    const failedRun = (await h1.describe()).runId;
    const failedText = await pageText(h1.workflowId, failedRun, /CREATEROLE/);
    // the cause, decoded by our codec server (raw event JSON further down still shows the envelope)
    expect(failedText).toMatch(/CREATEROLE/);

    // a running rotation (long grace): its input is readable
    const running = await addPgApp(rig, pg, adminId, 'running');
    const h2 = await rig.start({ credentialId: running.id, graceMs: 3_600_000 });
    // the workflow id holds the credential id anyway; the grace exists only in the (encrypted) input
    const runText = await pageText(h2.workflowId, (await h2.describe()).runId, /"graceMs":\s*3600000/);
    expect(runText).toMatch(/"graceMs":\s*3600000/);
    expect(runText).toMatch(new RegExp(`"credentialId":\\s*"${running.id}"`));
    await h2.terminate('test done');
  }, 240_000);
});
