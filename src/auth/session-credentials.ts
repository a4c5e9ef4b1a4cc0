/**
 * What each open session's login rests on, and the watch that ends a session when that is revoked:
 * an account locked, deleted or given a new password, an API key deleted, revoked, reset or
 * expired. Account and API-key changes arrive as entity events (from every daemon when they share
 * Redis); each affected session is checked against the database at once. A changed set of roles
 * applies to the open session in place. Key expiry costs no query: the expiry is remembered and
 * swept once a second while any open session has one.
 */
import type { App } from '../app.js';
import { NotAuthorizedError } from '../errors/call-error.js';
import { toErrorData } from '../errors/to-rpc-error.js';
import type { CollectionUpdate } from '../events/event-bus.js';
import { maySubscribe } from '../events/subscription-hub.js';
import type { Session } from '../rpc/session.js';
import { checkCredential, dropTokensOf, stampOf, type Login } from './credentials.js';
import type { SessionCredential } from './entities.js';
import { expandRoles, type Role } from './roles.js';

/** Close code of a session whose credential was revoked (RFC 6455 "policy violation"). */
export const REVOKED_CLOSE_CODE = 1008;
const SWEEP_MS = 1000;

interface Held {
  credential: SessionCredential;
  expiresAt: number | null;
  /** Counts checks, so that only the latest one started (which saw the latest change) applies. */
  checks: number;
}

export class SessionCredentials {
  private readonly held = new WeakMap<Session, Held>();
  private readonly madeTokens = new WeakSet<Session>();
  private readonly expiring = new Set<Session>();
  private sweeper: NodeJS.Timeout | null = null;
  /** Bumped by every account or API-key change, so that a login that raced one checks again. */
  generation = 0;

  constructor(private readonly app: App) {
    app.events.onUpdate((update) => this.onUpdate(update));
  }

  /** Records a successful login of `session`. */
  remember(session: Session, login: Login): void {
    session.caller = login.caller;
    this.held.set(session, { credential: login.credential, expiresAt: login.expiresAt, checks: 0 });
    this.trackExpiry(session, login.expiresAt);
  }

  credentialOf(session: Session): SessionCredential | null {
    return this.held.get(session)?.credential ?? null;
  }

  /** Notes that the session made a token, which must die with the session's login. */
  madeToken(session: Session): void {
    this.madeTokens.add(session);
  }

  /** Ends the login of a session that stays connected (auth.logout): its tokens die with it. */
  async logout(session: Session): Promise<void> {
    this.forget(session);
    await this.dropTokens(session);
  }

  /** Ends a session: it is anonymous at once, its tokens are gone, then it is closed. */
  async end(session: Session, code: number, reason: string): Promise<void> {
    this.forget(session);
    try {
      await this.dropTokens(session);
    } finally {
      session.close(code, reason);
    }
  }

  /**
   * Keeps the calling session logged in through a change of its own account's password: it set the
   * new one, so it knows it. Returns how to undo that if the change is not committed.
   */
  restampPassword(session: Session | undefined, user: { id: number }, newHash: string): () => void {
    const held = session && this.held.get(session);
    if (!held || held.credential.userId !== user.id || held.credential.passwordStamp === null) return () => undefined;
    const before = held.credential;
    held.credential = { ...before, passwordStamp: stampOf(newHash) };
    return () => void (held.credential = before);
  }

  /** Checks a session's credential against the database and ends or updates the session. */
  async recheck(session: Session): Promise<void> {
    const held = this.held.get(session);
    if (!held) return;
    const check = ++held.checks;
    const outcome = await checkCredential(this.app, held.credential);
    // A newer check, a logout or another login overtook this one.
    if (held.checks !== check || this.held.get(session) !== held) return;
    if (!outcome.valid) {
      this.app.logger.info({ session: session.id, username: held.credential.username, why: outcome.reason }, 'session ended: credential revoked');
      await this.end(session, REVOKED_CLOSE_CODE, `Session credentials were revoked: ${outcome.reason}`);
      return;
    }
    held.expiresAt = outcome.expiresAt;
    this.trackExpiry(session, outcome.expiresAt);
    this.applyRoles(session, outcome.roles);
  }

  private forget(session: Session): void {
    session.caller = null;
    this.held.delete(session);
    this.expiring.delete(session);
  }

  private async dropTokens(session: Session): Promise<void> {
    if (!this.madeTokens.delete(session)) return;
    await dropTokensOf(this.app, session.id);
  }

  private onUpdate(update: CollectionUpdate): void {
    const affects = this.affected(update);
    if (!affects) return;
    this.generation++;
    for (const session of this.app.sessions.all()) {
      const held = this.held.get(session);
      if (held && affects(held.credential)) {
        void this.recheck(session).catch((error: unknown) => this.app.logger.error({ err: error, session: session.id }, 'could not re-check a session'));
      }
    }
  }

  /** Which credentials an entity event may have revoked or changed. */
  private affected(update: CollectionUpdate): ((credential: SessionCredential) => boolean) | null {
    const id = Number(update.id);
    if (update.collection === 'user.query') return (credential) => credential.userId === id;
    if (update.collection === 'api_key.query') return (credential) => credential.apiKey?.id === id;
    // A group's members or a privilege's groups or roles may change anyone's roles.
    if (update.collection === 'group.query' || update.collection === 'privilege.query') return () => true;
    return null;
  }

  /** Gives the session the account's roles as they are now; subscriptions they no longer allow end. */
  private applyRoles(session: Session, roles: Role[]): void {
    const caller = session.caller;
    if (!caller || sameRoles(caller.roles, roles)) return;
    session.caller = { ...caller, roles };
    for (const [id, name] of [...session.subscriptions]) {
      if (maySubscribe(this.app, session, name)) continue;
      session.subscriptions.delete(id);
      session.notify('notify_unsubscribed', { collection: name, error: toErrorData(new NotAuthorizedError()) });
    }
  }

  private trackExpiry(session: Session, expiresAt: number | null): void {
    if (expiresAt === null) {
      this.expiring.delete(session);
      return;
    }
    this.expiring.add(session);
    this.sweeper ??= setInterval(() => this.sweep(), SWEEP_MS).unref();
  }

  /** Ends sessions whose API key has expired; stops itself when none is left to watch. */
  private sweep(): void {
    const now = Date.now();
    for (const session of this.expiring) {
      const held = this.held.get(session);
      if (!held || held.expiresAt === null || this.app.sessions.get(session.id) !== session) {
        this.expiring.delete(session);
      } else if (held.expiresAt <= now) {
        void this.end(session, REVOKED_CLOSE_CODE, 'Session credentials were revoked: the API key expired').catch((error: unknown) =>
          this.app.logger.error({ err: error, session: session.id }, 'could not end a session'),
        );
      }
    }
    if (this.expiring.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }
}

function sameRoles(a: readonly Role[], b: readonly Role[]): boolean {
  const left = expandRoles(a);
  const right = expandRoles(b);
  return left.size === right.size && [...left].every((role) => right.has(role));
}

const perApp = new WeakMap<App, SessionCredentials>();

/** The daemon's one watch over its sessions' credentials, made on first use. */
export function sessionCredentials(app: App): SessionCredentials {
  let watch = perApp.get(app);
  if (!watch) perApp.set(app, (watch = new SessionCredentials(app)));
  return watch;
}
