import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Keys whose values are censored if an object carrying one is ever logged by accident. */
const REDACT_PATHS = ['password', 'api_key', 'token', 'privatekey', 'passphrase', 'params', 'args'].flatMap((key) => [key, `*.${key}`]);

/**
 * Structured JSON logs (stdout unless a destination is given). Secrets never reach a log call; the
 * redact list is a second line of defence.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { name: 'certmid', level, redact: { paths: REDACT_PATHS, censor: '********' } };
  return destination ? pino(options, destination) : pino(options);
}
