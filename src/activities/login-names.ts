import type { CredentialDefinition } from '../store/types';

/**
 * Login name of the next version under dual-user. "alternate" (default)
 * flips between two slots, the base name and base + "_b", so a database has
 * at most two logins for a credential; "versioned" uses base + "_v" + version.
 */
export function nextLoginName(def: CredentialDefinition, currentUsername: string, toVersion: number): string {
  if (def.loginNaming === 'versioned') return `${def.baseUsername}_v${toVersion}`;
  const slotB = `${def.baseUsername}_b`;
  return currentUsername === slotB ? def.baseUsername : slotB;
}
