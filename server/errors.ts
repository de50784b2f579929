/**
 * Errors a user can act on. A loader that meets a bad file throws a ModelLensError naming the file, what was
 * wrong and what to do; the UI shows it once, the CLI prints one line and exits 2. Anything else is a bug (exit 1).
 */
export type ModelLensErrorCode =
  | 'bad-input' // a file exists but its contents are wrong (corrupt, truncated, hostile)
  | 'unsupported' // a valid file in a format or dtype we do not handle
  | 'not-found' // a path or an entry that does not exist
  | 'mismatch' // two inputs that do not fit together
  | 'usage' // a request or command line that makes no sense
  | 'cancelled';

export class ModelLensError extends Error {
  constructor(
    readonly code: ModelLensErrorCode,
    message: string,
    /** The file the problem is in, when there is one. */
    readonly file?: string,
    /** What the user can do about it. */
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ModelLensError';
  }

  /** One line for a notification or stderr: "file: what is wrong. what to do." */
  toUserMessage(): string {
    const where = this.file ? `${this.file}: ` : '';
    const hint = this.hint ? ` ${this.hint}` : '';
    return `${where}${this.message}${hint}`;
  }
}

export function isModelLensError(error: unknown): error is ModelLensError {
  return error instanceof ModelLensError;
}

export const badInput = (file: string, message: string, hint?: string) =>
  new ModelLensError('bad-input', message, file, hint);
export const unsupported = (file: string, message: string, hint?: string) =>
  new ModelLensError('unsupported', message, file, hint);
export const notFound = (file: string, message: string, hint?: string) =>
  new ModelLensError('not-found', message, file, hint);
