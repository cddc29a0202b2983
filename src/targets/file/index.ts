import { readFile } from 'node:fs/promises';
import { ConfigError, TransientError } from '../../errors';
import type { FileTargetSpec } from '../schema';
import type { DeliveredCredential, DeliveryPlanLines, DeliveryStep, Target, VerifyStage } from '../target';
import { publishFiles, pruneOld, readShown, type LayoutOptions } from './layout';
import { renderFiles } from './render';

/**
 * Delivers a credential as files (kubelet layout, see ./layout.ts): what
 * systemd units, VMs, sidecars and any language read. No notion of
 * "pending": applications see a version once it is CURRENT.
 */
export class FileTarget implements Target {
  readonly description: string;

  private constructor(
    private readonly spec: FileTargetSpec,
    private readonly layout: LayoutOptions,
  ) {
    this.description = `file ${spec.dir}`;
  }

  static async create(spec: FileTargetSpec): Promise<FileTarget> {
    const uid = spec.owner === undefined ? undefined : await resolveId(spec.owner, '/etc/passwd', 'user');
    const gid = spec.group === undefined ? undefined : await resolveId(spec.group, '/etc/group', 'group');
    return new FileTarget(spec, {
      dirMode: parseInt(spec.dirMode, 8),
      fileMode: parseInt(spec.fileMode, 8),
      uid,
      gid,
    });
  }

  async publishPending(): Promise<void> {}

  async publishCurrent(step: DeliveryStep): Promise<void> {
    await publishFiles(this.spec.dir, this.files(required(step.to)), this.layout);
  }

  async restore(step: DeliveryStep): Promise<void> {
    await publishFiles(this.spec.dir, this.files(step.from), this.layout);
  }

  async removeOld(step: DeliveryStep): Promise<void> {
    // The current version is shown already (publishCurrent); make sure, then drop the rest.
    await publishFiles(this.spec.dir, this.files(required(step.to)), this.layout);
    await pruneOld(this.spec.dir);
  }

  async verify(step: DeliveryStep, stage: VerifyStage): Promise<void> {
    if (stage === 'pending') return;
    const expect = stage === 'restored' ? step.from : required(step.to);
    const shown = await readShown(this.spec.dir);
    const want = this.files(expect);
    const ok = shown !== undefined && [...want].every(([name, content]) => shown.files.get(name) === content);
    if (!ok) {
      throw new TransientError(`${this.description}: read back does not show version ${expect.version}`);
    }
  }

  describeActions(): DeliveryPlanLines {
    const files = ['username', 'password', 'credential.json', ...this.spec.renderings].join(', ');
    const mode = `dir ${this.spec.dirMode}, files ${this.spec.fileMode}`;
    return {
      pending: `${this.description}: nothing (no pending notion)`,
      current: `${this.description}: write ${files} into a new version directory (${mode}), swap ..data`,
      restore: `${this.description}: write the old version into a new directory, swap ..data`,
      removeOld: `${this.description}: delete version directories other than ..data's`,
    };
  }

  async close(): Promise<void> {}

  private files(c: DeliveredCredential): Map<string, string> {
    const shown = { ...c, host: this.spec.host ?? c.host, port: this.spec.port ?? c.port };
    return renderFiles(shown, this.spec.renderings);
  }
}

function required(to: DeliveredCredential | undefined): DeliveredCredential {
  if (!to) throw new ConfigError('the new version is not readable any more (discarded)');
  return to;
}

/** A numeric id as is; a name looked up in /etc/passwd or /etc/group (no NSS: containers and VMs). */
async function resolveId(p: string | number, file: string, what: string): Promise<number> {
  if (typeof p === 'number') return p;
  const text = await readFile(file, 'utf8');
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':');
    if (name === p && id !== undefined) return Number(id);
  }
  throw new ConfigError(`file target: unknown ${what} "${p}" (not in ${file})`);
}
