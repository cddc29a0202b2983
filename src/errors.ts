import type { NonRetryableErrorType } from './shared/constants';

/**
 * Base of every error we raise on purpose. `code` is stable so callers and
 * the activity layer can classify it; messages name the problem and never
 * carry a secret.
 */
export class RotatorError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = code;
  }
}

abstract class PermanentError extends RotatorError {
  constructor(message: string, code: NonRetryableErrorType) {
    super(message, code, false);
  }
}

/** Missing or invalid configuration / credential definition. */
export class ConfigError extends PermanentError {
  constructor(message: string) {
    super(message, 'ConfigError');
  }
}
export class UnknownCredentialError extends PermanentError {
  constructor(readonly credentialId: string) {
    super(`unknown credential "${credentialId}"`, 'UnknownCredentialError');
  }
}
/** The admin login lacks a privilege the rotation needs. */
export class AdminPrivilegeError extends PermanentError {
  constructor(message: string) {
    super(message, 'AdminPrivilegeError');
  }
}
export class UnsupportedServerError extends PermanentError {
  constructor(message: string) {
    super(message, 'UnsupportedServerError');
  }
}
export class UnsupportedStrategyError extends PermanentError {
  constructor(message: string) {
    super(message, 'UnsupportedStrategyError');
  }
}
/** The new login cannot do everything the old one could. */
export class PrivilegeParityError extends PermanentError {
  constructor(
    message: string,
    readonly differences: string[],
  ) {
    super(message, 'PrivilegeParityError');
  }
}
/** Logging in with the pending credential or a verification check failed. */
export class VerificationError extends PermanentError {
  constructor(message: string) {
    super(message, 'VerificationError');
  }
}
/** The store is not in the state an operation requires (e.g. promoting a version that is not pending). */
export class StoreStateError extends PermanentError {
  constructor(message: string) {
    super(message, 'StoreStateError');
  }
}
/** An identifier the engine cannot represent safely (too long, NUL byte, ...). */
export class UnsafeIdentifierError extends PermanentError {
  constructor(message: string) {
    super(message, 'UnsafeIdentifierError');
  }
}
/** Network/server trouble that may pass: retried with backoff. */
export class TransientError extends RotatorError {
  constructor(message: string) {
    super(message, 'TransientError', true);
  }
}

/** A rotation asked to start outside its credential's rotation windows (or in a freeze), without an override. */
export class OutsideWindowError extends PermanentError {
  constructor(message: string) {
    super(message, 'OutsideWindowError');
  }
}
