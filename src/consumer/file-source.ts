import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { credentialFromJson, isDirectory, readCredentialBytes } from './file-layouts';
import { SourceBase, errorMessage, type SourceBaseOptions } from './source-base';
import type { ConsumerCredential } from './types';

export interface FileSourceOptions extends SourceBaseOptions {
  /**
   * The credential file, e.g. `/etc/db-credential/credential.json`. Its
   * content is one JSON object: `{"version": 7, "username": "app_b",
   * "password": "..."}` (other fields are ignored). In a Kubernetes secret
   * volume the file is a symlink through `..data`, which the kubelet swaps
   * atomically; plain files replaced by rename work the same way. Also a
   * file-target directory, AWS's secret JSON, or a directory of one file per
   * key: see ./file-layouts.ts.
   */
  path: string;
  /** Events within this window are coalesced into one read (default 100 ms). */
  debounceMs?: number;
  /** Poll fallback for file systems where watching misses events (default 30 s; 0 disables). */
  pollMs?: number;
}

/**
 * A credential mounted as a file. Watches the file's directory (a secret
 * volume update is a rename of the `..data` symlink in that directory, which
 * a watch on the file itself would miss), debounces, and re-reads; unchanged
 * content (same SHA-256) is not parsed again, and subscribers hear only of a
 * new version. A poll is the fallback if watching fails or misses events.
 */
export class FileSource extends SourceBase {
  private watcher?: FSWatcher;
  private debounceTimer?: NodeJS.Timeout;
  private pollTimer?: NodeJS.Timeout;
  private lastHash?: string;
  private readonly debounceMs: number;
  /** Reads that found unchanged content (skipped parsing): for tests and stats. */
  unchangedReads = 0;

  constructor(private readonly opts: FileSourceOptions) {
    super(opts, { minReadIntervalMs: 0 });
    this.debounceMs = opts.debounceMs ?? 100;
    this.startWatching();
    const pollMs = opts.pollMs ?? 30_000;
    if (pollMs > 0) {
      this.pollTimer = setInterval(() => this.refreshQuietly('poll'), pollMs);
      this.pollTimer.unref();
    }
  }

  protected async read(previous: ConsumerCredential | undefined): Promise<ConsumerCredential> {
    const raw = await readCredentialBytes(this.opts.path);
    const hash = createHash('sha256').update(raw).digest('hex');
    if (previous && hash === this.lastHash) {
      this.unchangedReads++;
      return previous;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      // Never echo the content: it holds the password.
      throw new Error(`file source: ${this.opts.path} is not valid JSON`);
    }
    this.lastHash = hash;
    return credentialFromJson(parsed); // validated by the base class
  }

  override async close(): Promise<void> {
    this.watcher?.close();
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    await super.close();
  }

  private startWatching(): void {
    // A directory (file target, Kubernetes Secret volume) is watched itself: its ..data swaps.
    const dir = isDirectory(this.opts.path) ? this.opts.path : dirname(this.opts.path);
    const name = basename(this.opts.path);
    try {
      this.watcher = watch(dir, { persistent: false }, (_event, file) => {
        // `..data`, `..data_tmp`, timestamped dirs, or the file itself; other files in the dir are ignored.
        if (file && !String(file).startsWith('..') && String(file) !== name) return;
        this.debounce();
      });
      this.watcher.on('error', (err) => {
        this.logger.warn(
          { path: this.opts.path, err: errorMessage(err) },
          'file source: watch failed; polling only',
        );
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      this.logger.warn(
        { path: this.opts.path, err: errorMessage(err) },
        'file source: cannot watch; polling only',
      );
    }
  }

  private debounce(): void {
    if (this.closed) return;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      this.refreshQuietly('watch');
    }, this.debounceMs);
    this.debounceTimer.unref();
  }

  private refreshQuietly(reason: string): void {
    if (this.closed) return;
    // The base class logs a failed read; a half-written file is read again on the next event or poll.
    this.refresh(reason).catch(() => undefined);
  }
}
