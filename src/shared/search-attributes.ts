/**
 * Custom search attributes the rotation workflow publishes, so operators can
 * list rotations by credential, engine, strategy and phase in the Temporal UI.
 * scripts/services.sh registers the same names on the dev server.
 */
export const SEARCH_ATTRIBUTES = {
  RotationCredentialId: 'Keyword',
  RotationEngine: 'Keyword',
  RotationStrategy: 'Keyword',
  RotationPhase: 'Keyword',
} as const;
