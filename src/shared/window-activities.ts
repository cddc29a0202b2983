import type { WindowPolicy } from './windows';

export interface WindowActivities {
  /** The credential's rotation windows and freezes (undefined: none declared). */
  rotationWindow(credentialId: string): Promise<WindowPolicy | undefined>;
}
