import { createHash, createHmac } from 'node:crypto';
import { ConfigError, TransientError } from '../../errors';
import type { WebhookTargetSpec } from '../schema';
import type { DeliveryPlanLines, DeliveryStep, EventTarget, LifecycleEvent } from '../target';

/** What an event says about the rotation: ids, versions, login names; never a password. */
export interface RotationEventData {
  credentialId: string;
  event: LifecycleEvent;
  strategy: string;
  fromVersion: number;
  toVersion: number;
  fromUsername: string;
  toUsername: string;
  detail?: string;
}

export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: RotationEventData;
}

export const EVENT_TYPE_PREFIX = 'io.db-rotator.rotation.';
const ATTEMPTS = 4;
const FIRST_DELAY_MS = 250;

/**
 * Lifecycle events as CloudEvents 1.0 (structured JSON) POSTed to a URL, so
 * deploy tooling can restart workloads that cannot reload and chat/paging
 * can follow rotations. Signed like Standard Webhooks: headers webhook-id,
 * webhook-timestamp and webhook-signature `v1,<base64 HMAC-SHA256(key,
 * "<id>.<timestamp>.<body>")>`, with this endpoint's own key (a worker
 * environment variable; `whsec_<base64>` or raw text).
 *
 * The event id is derived from the rotation run, the event and the version,
 * so a retried activity re-sends the same id: receivers de-duplicate by id.
 * Each POST is retried with backoff inside the activity, then the activity
 * itself is retried by the workflow. A 4xx other than 408/429 is permanent
 * (the receiver refuses this sender). Nothing to read back: verify is the 2xx.
 */
export class WebhookTarget implements EventTarget {
  readonly description: string;
  private readonly key: Buffer;

  constructor(
    private readonly spec: WebhookTargetSpec,
    env: NodeJS.ProcessEnv,
  ) {
    const u = new URL(spec.url);
    this.description = `webhook ${u.origin}${u.pathname}`;
    const raw = env[spec.signingSecretEnv];
    if (!raw)
      throw new ConfigError(`${this.description}: environment variable ${spec.signingSecretEnv} is not set`);
    this.key = raw.startsWith('whsec_') ? Buffer.from(raw.slice(6), 'base64') : Buffer.from(raw, 'utf8');
  }

  publishPending = (step: DeliveryStep) => this.notify('pending', step);
  publishCurrent = (step: DeliveryStep) => this.notify('promoted', step);
  restore = (step: DeliveryStep) => this.notify('rolled-back', step);
  removeOld = (step: DeliveryStep) => this.notify('revoked', step);

  async verify(): Promise<void> {}

  async notify(
    event: LifecycleEvent,
    step: Omit<DeliveryStep, 'from' | 'to'>,
    detail?: string,
  ): Promise<void> {
    if (!this.spec.events.includes(event)) return;
    const ce = cloudEvent(event, step, detail);
    const body = JSON.stringify(ce);
    let last = '';
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const timestamp = Math.floor(Date.now() / 1000).toString();
      try {
        const res = await fetch(this.spec.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/cloudevents+json; charset=utf-8',
            'webhook-id': ce.id,
            'webhook-timestamp': timestamp,
            'webhook-signature': `v1,${sign(this.key, ce.id, timestamp, body)}`,
          },
          body,
          signal: AbortSignal.timeout(this.spec.timeoutMs),
          redirect: 'error',
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return;
        last = `HTTP ${res.status}`;
        if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
          throw new ConfigError(`${this.description}: ${event} refused with ${last}`);
        }
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        last = err instanceof Error ? err.message : String(err);
      }
      if (attempt < ATTEMPTS) await sleep(FIRST_DELAY_MS * 2 ** (attempt - 1) * (0.5 + Math.random()));
    }
    throw new TransientError(
      `${this.description}: ${event} not delivered after ${ATTEMPTS} attempts (${last})`,
    );
  }

  describeActions(): DeliveryPlanLines {
    const on = (e: LifecycleEvent) =>
      this.spec.events.includes(e) ? `POST CloudEvent ${EVENT_TYPE_PREFIX}${e}` : 'nothing';
    return {
      pending: `${this.description}: ${on('pending')}`,
      current: `${this.description}: ${on('promoted')}`,
      restore: `${this.description}: ${on('rolled-back')}`,
      removeOld: `${this.description}: ${on('revoked')}`,
    };
  }

  async close(): Promise<void> {}
}

export function cloudEvent(
  event: LifecycleEvent,
  step: Omit<DeliveryStep, 'from' | 'to'>,
  detail?: string,
): CloudEvent {
  const id = createHash('sha256')
    .update(`${step.credentialId}\0${step.runId ?? ''}\0${event}\0${step.fromVersion}\0${step.toVersion}`)
    .digest('hex')
    .slice(0, 32);
  return {
    specversion: '1.0',
    id,
    source: `db-rotator/credentials/${encodeURIComponent(step.credentialId)}`,
    type: `${EVENT_TYPE_PREFIX}${event}`,
    subject: step.credentialId,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data: {
      credentialId: step.credentialId,
      event,
      strategy: step.strategy,
      fromVersion: step.fromVersion,
      toVersion: step.toVersion,
      fromUsername: step.fromUsername,
      toUsername: step.toUsername,
      ...(detail === undefined ? {} : { detail: detail.slice(0, 1000) }),
    },
  };
}

/** Standard Webhooks signature: base64 HMAC-SHA256 over "<id>.<timestamp>.<body>". */
export function sign(key: Buffer, id: string, timestamp: string, body: string): string {
  return createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
