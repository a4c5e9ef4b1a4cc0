import type { Logger } from './logger.js';

/** Stops gracefully on SIGTERM or SIGINT: exit 0 once `stop` finishes, 1 if it fails. */
export function stopOnSignals(logger: Logger, stop: () => Promise<void>): void {
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}
