// Everything the worker registers as workflows.
export { rotateCredential } from './rotate-credential';
export { hello } from './hello';
