/**
 * An application that reads its credential from a file target the way most
 * do: every `pollMs` (first read after `phaseMs`, so instances differ), no
 * file watch, no early re-read. The consumer library's FileSource watches
 * the directory and would see a new version at once; the delivery bench
 * models the common, slower reader instead.
 */
import { credentialFromJson, readCredentialBytes } from '../../src/consumer/file-layouts';
import { SourceBase } from '../../src/consumer/source-base';
import type { ConsumerCredential } from '../../src/consumer/types';

export class PolledFileSource extends SourceBase {
  private phaseTimer?: NodeJS.Timeout;
  private pollTimer?: NodeJS.Timeout;

  constructor(
    private readonly path: string,
    pollMs: number,
    phaseMs: number,
  ) {
    super({}, { minReadIntervalMs: 0 });
    const poll = () => void this.refresh('poll').catch(() => undefined); // a failed read: next poll
    this.phaseTimer = setTimeout(() => {
      poll();
      this.pollTimer = setInterval(poll, pollMs);
    }, phaseMs);
  }

  protected async read(): Promise<ConsumerCredential> {
    return credentialFromJson(JSON.parse((await readCredentialBytes(this.path)).toString('utf8')));
  }

  override async close(): Promise<void> {
    clearTimeout(this.phaseTimer);
    clearInterval(this.pollTimer);
    await super.close();
  }
}
