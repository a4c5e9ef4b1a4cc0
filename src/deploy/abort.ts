import { DeployError } from './kind.js';

/** The error of a deploy stopped by its signal (the job aborted, the daemon stopping). */
export function abortedError(): DeployError {
  return new DeployError('The deploy was aborted');
}

/**
 * `promise`, unless `signal` aborts first: then a DeployError at once. The step under way is left
 * to fail as its caller closes the connection; that later failure is swallowed.
 */
export function unlessAborted<T>(signal: AbortSignal, promise: Promise<T>): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(abortedError());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      promise.catch(() => undefined);
      reject(abortedError());
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => (signal.removeEventListener('abort', onAbort), resolve(value)),
      (error: unknown) => (signal.removeEventListener('abort', onAbort), reject(error)),
    );
  });
}
