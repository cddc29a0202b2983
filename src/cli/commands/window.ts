import type { Command } from 'commander';
import { loadConfig, type RotatorConfig } from '../../config';
import { OutsideWindowError } from '../../errors';
import type { RotationInput } from '../../shared/types';
import { describeInstant, hasWindowRules, windowState, type WindowPolicy } from '../../shared/windows';
import { withStore } from '../context';

function policyOf(cfg: RotatorConfig, credentialId: string): Promise<WindowPolicy | undefined> {
  return withStore(async (store) => {
    const { policy } = await store.getDefinition(credentialId);
    const window = { windows: policy.windows, freezes: policy.freezes };
    return hasWindowRules(window) ? window : undefined;
  }, cfg);
}

/** "open now" / "closed (reason); next window …" for a credential, or undefined without rules. */
export async function windowLine(
  cfg: RotatorConfig,
  credentialId: string,
  now = new Date(),
): Promise<string | undefined> {
  const policy = await policyOf(cfg, credentialId);
  if (!policy) return undefined;
  const s = windowState(policy, now);
  const zone = policy.windows?.[0]?.timeZone ?? 'UTC';
  const next = s.nextStart ? describeInstant(s.nextStart, zone) : 'none within a year';
  return s.inside ? 'open now' : `closed (${s.reason}); next window ${next}`;
}

/**
 * The CLI's early answer for a manual start outside a window (the worker's
 * preflight enforces the same rule for every client).
 */
export async function checkStartWindow(cfg: RotatorConfig, input: RotationInput): Promise<void> {
  if (input.emergency || input.outsideWindow) return;
  const line = await windowLine(cfg, input.credentialId);
  if (line && !line.startsWith('open')) {
    throw new OutsideWindowError(
      `credential "${input.credentialId}": rotation window ${line}. Rotate then, or now with --outside-window --reason "…" (audited)`,
    );
  }
}

/** `db-rotator window <credential>`: whether a rotation may start now, and the next window. */
export function registerWindowCommand(program: Command): void {
  program
    .command('window <credential>')
    .description("the credential's rotation window: open now or the next start (policy.windows/freezes)")
    .action(async (credentialId: string) => {
      const line = await windowLine(loadConfig(), credentialId);
      console.log(`window       ${line ?? 'no windows or freezes: rotations may start any time'}`);
    });
}
