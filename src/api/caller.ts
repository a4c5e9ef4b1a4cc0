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
