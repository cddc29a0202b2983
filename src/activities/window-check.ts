import { OutsideWindowError } from '../errors';
import type { RotationInput } from '../shared/types';
import { describeInstant, hasWindowRules, windowState, type WindowPolicy } from '../shared/windows';
import type { CredentialDefinition } from '../store/types';
import type { Blockers } from './plan';

export interface WindowCheck {
  /** What the revoke waits for (undefined: no rules, or an emergency). */
  window?: WindowPolicy;
  /** One line for the dry run and status: where `now` stands and the next window. */
  note?: string;
  /** The operator started outside a window on purpose (audit it). */
  overridden: boolean;
}

/**
 * The start-time rule of rotation windows, for preflight and dry run alike:
 * outside a window (or in a freeze) a rotation starts only as an emergency,
 * with an explicit override, or from a launcher that already waited for the
 * window (workflow time; see RotationInput.outsideWindow).
 */
export function checkRotationWindow(
  def: CredentialDefinition,
  input: RotationInput,
  blockers: Blockers,
  now: Date = new Date(),
): WindowCheck {
  const policy: WindowPolicy = { windows: def.policy.windows, freezes: def.policy.freezes };
  if (!hasWindowRules(policy)) return { overridden: false };
  if (input.emergency)
    return { note: 'emergency: rotation windows and freezes are ignored', overridden: false };
  const state = windowState(policy, now);
  const zone = def.policy.windows?.[0]?.timeZone ?? 'UTC';
  const next = state.nextStart ? describeInstant(state.nextStart, zone) : 'none within a year';
  if (state.inside) return { window: policy, note: `rotation window: open now`, overridden: false };
  const note = `rotation window: ${state.reason}; next window ${next}`;
  if (input.outsideWindow === 'launcher-waited') return { window: policy, note, overridden: false };
  if (input.outsideWindow === 'override') {
    if (!input.reason?.trim()) {
      blockers.add(
        new OutsideWindowError(`credential "${def.id}": a start outside the rotation window needs a reason`),
      );
    }
    return { window: policy, note: `${note}; started outside it by explicit override`, overridden: true };
  }
  blockers.add(
    new OutsideWindowError(
      `credential "${def.id}": ${state.reason}; next window ${next}. Rotate then, or start it now with --outside-window --reason "…" (audited)`,
    ),
  );
  return { window: policy, note, overridden: false };
}
