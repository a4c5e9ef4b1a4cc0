import type { App } from '../app.js';
import type { Role } from '../auth/roles.js';

/** How the caller logged in, as `core.get_jobs` shows it (`credentials.type`). */
export type CredentialType = 'LOGIN_PASSWORD' | 'API_KEY' | 'TOKEN' | 'INTERNAL';

/** Who is calling. Serializable, so a job in another process knows who queued it. */
export interface Caller {
  username: string;
  /** Roles as granted; expand with `expandRoles` before checking. */
  roles: readonly Role[];
  credentialType: CredentialType;
  loginAt: number;
}

/** What a job handler reports through. */
export interface JobReporter {
  readonly id: number;
  /** Only the arguments given change; percent never goes down. */
  progress(percent?: number | null, description?: string | null, extra?: unknown): void;
  /** Aborted by `core.job_abort` (for abortable jobs) or at shutdown. */
  readonly signal: AbortSignal;
}

/** Everything a handler may use. */
export interface CallContext {
  app: App;
  caller: Caller | null;
  /** Id of the WebSocket session the call came from; null inside workers and internal calls. */
  sessionId: string | null;
  job: JobReporter | null;
}
