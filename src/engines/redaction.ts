/** Secrets in recorded (dry-run) text: the marker and the generic replacement. */

/** What dry-run mode records in place of every secret. */
export const REDACTED = '<redacted>';

/** Replaces every occurrence of each secret (as it appears in the text) by REDACTED. */
export function redactValues(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join(REDACTED);
  return out;
}
