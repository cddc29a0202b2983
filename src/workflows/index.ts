// Everything the worker registers as workflows.
export { rotateCredential } from './rotate-credential';
export { rotateFleet, scheduledRotation } from './rotate-fleet';
