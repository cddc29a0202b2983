/** The marker file hold-worker writes for a credential (ids may hold slashes). */
export function markerName(credentialId: string): string {
  return credentialId.replace(/[^A-Za-z0-9_-]/g, '_');
}
