import { describe, expect, it } from 'vitest';

// The client starts workflows by function reference (src/cli/commands/*.ts,
// src/schedules.ts), so the workflow modules must load outside a workflow:
// nothing in them may touch workflow-only APIs (the metric meter) at module load.
// That the instruments still record inside a workflow is test/e2e/observability.test.ts.
describe('workflow modules outside a workflow', () => {
  it('load in plain Node, so the client can import the workflow functions', async () => {
    const rotation = await import('../../src/workflows/rotate-credential');
    const fleet = await import('../../src/workflows/rotate-fleet');
    expect(rotation.rotateCredential.name).toBe('rotateCredential');
    expect(fleet.rotateFleet.name).toBe('rotateFleet');
    expect(fleet.scheduledRotation.name).toBe('scheduledRotation');
  });
});
