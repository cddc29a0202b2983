import { DefaultFailureConverter } from '@temporalio/common';

// Loaded by path inside the workflow bundle too (failureConverterPath), so it
// must stay free of Node APIs. Moves failure messages and stack traces into
// an encoded payload so the codec encrypts them as well.
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
