import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { App } from '../app.js';
import { createLogger } from '../logger.js';
import { LocalEventBus } from './event-bus.js';
import { runOnChanges } from './run-on-changes.js';

/** The two parts of an app that `runOnChanges` uses: a real local event bus and a logger. */
function appWithEvents(): { app: App; events: LocalEventBus } {
  const events = new LocalEventBus();
  return { app: { events, logger: createLogger('silent') } as unknown as App, events };
}

describe('runOnChanges', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** Counts runs of `work` started while events of `collection` come every 20 ms for two seconds. */
  async function runsDuringStream(spacingMs: number | undefined): Promise<{ runs: number; firstAfterQuiet: number }> {
    const { app, events } = appWithEvents();
    const starts: number[] = [];
    const stop = runOnChanges(app, {
      wants: (collection) => collection === 'certificate.query',
      intervalMs: 3_600_000,
      work: async () => void starts.push(Date.now()),
      failure: 'failed',
      settleMs: 100,
      spacingMs,
    });
    await vi.advanceTimersByTimeAsync(10_000);
    starts.length = 0;
    const began = Date.now();
    for (let i = 0; i < 100; i++) {
      await events.publish({ collection: 'certificate.query', msg: 'added', id: i });
      await vi.advanceTimersByTimeAsync(20);
    }
    await vi.advanceTimersByTimeAsync(1000);
    stop();
    return { runs: starts.length, firstAfterQuiet: starts[0]! - began };
  }

  it('runs after changes at most once per spacing while they keep coming, the first one after the settle time only', async () => {
    const spaced = await runsDuringStream(300);
    expect(spaced.firstAfterQuiet).toBe(100);
    // Two seconds of changes: a run at 100 ms, then one every 300 ms, and one for the last changes.
    expect(spaced.runs).toBeGreaterThanOrEqual(7);
    expect(spaced.runs).toBeLessThanOrEqual(8);
  });

  it('without a spacing runs once per settle time while changes keep coming', async () => {
    const unspaced = await runsDuringStream(undefined);
    expect(unspaced.firstAfterQuiet).toBe(100);
    expect(unspaced.runs).toBeGreaterThanOrEqual(19);
  });
});
