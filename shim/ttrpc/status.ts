// Errors that cross the ttrpc edge carry a gRPC status code; containerd maps
// them to its errdefs (NotFound, AlreadyExists, FailedPrecondition, ...).
export const Code = {
  OK: 0,
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
} as const;
export type CodeValue = (typeof Code)[keyof typeof Code];

/** An error with a gRPC status code, raised anywhere below the edge. */
export class StatusError extends Error {
  constructor(readonly code: CodeValue, message: string) {
    super(message);
  }
}

export const notFound = (m: string): StatusError => new StatusError(Code.NotFound, m);
export const alreadyExists = (m: string): StatusError => new StatusError(Code.AlreadyExists, m);
export const failedPrecondition = (m: string): StatusError => new StatusError(Code.FailedPrecondition, m);
export const invalidArgument = (m: string): StatusError => new StatusError(Code.InvalidArgument, m);
export const unimplemented = (m: string): StatusError => new StatusError(Code.Unimplemented, m);

/** Adds context in front of an error's message, keeping its code. */
export function wrap(err: unknown, context: string): Error {
  const e = err as Error;
  if (e instanceof StatusError) return new StatusError(e.code, `${context}: ${e.message}`);
  return new Error(`${context}: ${e?.message ?? String(err)}`);
}
