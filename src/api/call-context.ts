import type { App } from '../app.js';
import type { Caller } from './caller.js';
import type { JobReporter } from './jobs.js';

export type { Caller, CredentialType } from './caller.js';
export type { JobReporter } from './jobs.js';

/** Everything a handler may use. */
export interface CallContext {
  app: App;
  caller: Caller | null;
  /** Id of the WebSocket session the call came from; null inside workers and internal calls. */
  sessionId: string | null;
  job: JobReporter | null;
}
