import { z } from 'zod';
import type { CallContext, Caller } from '../../src/api/call-context.js';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin } from '../../src/api/define-plugin.js';
import {
  authenticateApiKey,
  authenticatePassword,
  authenticateToken,
  issueToken,
  type Login,
} from '../../src/auth/credentials.js';
import { auditAuthentication } from '../../src/audit/record.js';
import { In } from 'typeorm';
import type { App } from '../../src/app.js';
import { ApiKeyEntity, AuthTokenEntity, UserEntity, type SessionCredential } from '../../src/auth/entities.js';
import { currentUser } from '../../src/auth/me.js';
import { transaction } from '../../src/db/transaction.js';
import { ACCOUNT_LIMIT, ADDRESS_LIMIT, addressKey, LoginThrottle, type Admission } from '../../src/auth/login-throttle.js';
import { sessionCredentials } from '../../src/auth/session-credentials.js';
import { CallError, NotAuthenticatedError } from '../../src/errors/call-error.js';
import { toErrorData } from '../../src/errors/to-rpc-error.js';
import { filterListAsync } from '../../src/query/filter-list.js';
import { QueryFilters, QueryOptions } from '../../src/query/schemas.js';
import type { Session } from '../../src/rpc/session.js';

/**
 * Failed logins are counted per address (every mechanism) and, for passwords, per account too.
 * One set per daemon, so that several daemons in one process (tests) do not share counts.
 */
interface Throttles {
  byAddress: LoginThrottle;
  byAccount: LoginThrottle;
}
const throttles = new WeakMap<object, Throttles>();
function throttlesOf(ctx: CallContext): Throttles {
  let found = throttles.get(ctx.app);
  if (!found) throttles.set(ctx.app, (found = { byAddress: new LoginThrottle(ADDRESS_LIMIT), byAccount: new LoginThrottle(ACCOUNT_LIMIT) }));
  return found;
}

/** Admits a login attempt in every bucket it counts in, or refuses it before anything is checked. */
async function admitLogin(ctx: CallContext, address: string, account: string | undefined): Promise<Admission[]> {
  const { byAddress, byAccount } = throttlesOf(ctx);
  const fromAddress = await byAddress.admit(addressKey(address));
  if (account === undefined) return [fromAddress];
  try {
    return [fromAddress, await byAccount.admit(account)];
  } catch (error) {
    fromAddress.cancel();
    throw error;
  }
}

const LoginOptions = z
  .strictObject({ user_info: z.boolean().default(true).describe('Include the user (as auth.me) in the reply.') })
  .default({ user_info: true })
  .describe('Options of the login.');

const LoginData = z.discriminatedUnion('mechanism', [
  z.strictObject({
    mechanism: z.literal('PASSWORD_PLAIN').describe('Log in with a username and password.'),
    username: z.string().max(1024).describe('The account name.'),
    password: z.string().max(1024).describe('The account password.'),
    login_options: LoginOptions,
  }),
  z.strictObject({
    mechanism: z.literal('API_KEY_PLAIN').describe('Log in with an API key.'),
    username: z.string().max(1024).describe('The account the key belongs to.'),
    api_key: z.string().max(1024).describe('The key, as "<id>-<secret>".'),
    login_options: LoginOptions,
  }),
  z.strictObject({
    mechanism: z.literal('TOKEN_PLAIN').describe('Log in with a token from auth.generate_token.'),
    token: z.string().max(1024).describe('The token.'),
    login_options: LoginOptions,
  }),
  z.strictObject({
    mechanism: z.literal('OTP_TOKEN').describe('Second factor; not used by this server.'),
    otp_token: z.string().max(1024).describe('The one-time password.'),
    login_options: LoginOptions,
  }),
]);

const UserInfo = z
  .object({
    pw_name: z.string().describe('The account name.'),
    pw_gecos: z.string().describe('The full name.'),
    pw_dir: z.string().describe('Home directory (always /var/empty).'),
    pw_shell: z.string().describe('Shell (always nologin).'),
    pw_uid: z.number().describe('Numeric user id.'),
    pw_gid: z.number().describe('Numeric group id.'),
    grouplist: z.array(z.number()).describe('Group ids.'),
    sid: z.null().describe('Windows SID (none).'),
    source: z.string().describe('Where the account is defined.'),
    local: z.boolean().describe('Whether the account is local.'),
    attributes: z.record(z.string(), z.unknown()).describe('Per-user attributes.'),
    two_factor_config: z.record(z.string(), z.unknown()).describe('Second-factor settings (none is configured here).'),
    privilege: z
      .object({
        roles: z.array(z.string()).describe('Every role the account holds, expanded.'),
        allowlist: z
          .array(z.object({ method: z.string().describe('CALL, SUBSCRIBE or "*".'), resource: z.string().describe('A method or event name, or "*".') }))
          .describe('The methods and events those roles allow.'),
        web_shell: z.boolean().describe('Whether a privilege of the account allows the web shell (there is none here).'),
        webui_access: z.boolean().describe('Whether the account may use the web UI.'),
      })
      .describe('What the account may do.'),
    account_attributes: z.array(z.string()).describe('TrueNAS account flags: LOCAL, SYS_ADMIN for the administrator, API_KEY for a key login.'),
  })
  .describe('The logged-in user.');

const LoginResult = z
  .object({
    response_type: z.enum(['SUCCESS', 'AUTH_ERR', 'EXPIRED', 'OTP_REQUIRED', 'REDIRECT']).describe('The outcome.'),
    user_info: UserInfo.nullable().optional().describe('The user, on SUCCESS when asked for.'),
    authenticator: z.enum(['LEVEL_1', 'LEVEL_2']).optional().describe('The assurance level reached.'),
  })
  .describe('The login outcome.');

function sessionOf(ctx: CallContext): Session {
  const session = ctx.app.sessions.get(ctx.sessionId);
  if (!session) throw new CallError('This method needs a WebSocket session', 'EINVAL');
  return session;
}

/** Why a login failed, as its audit entry says. */
const LOGIN_FAILURE: Record<string, string> = {
  PASSWORD_PLAIN: 'Bad username or password',
  API_KEY_PLAIN: 'Invalid API key',
  TOKEN_PLAIN: 'Invalid or expired token',
};

/**
 * Runs one login attempt for the session. Failures count against the remote address and, for a
 * password (`account` given), against the account, so that neither can be guessed at without limit.
 * Every attempt, refused by the throttle or not, is audited with who it claimed to be.
 */
async function attemptLogin(
  ctx: CallContext,
  what: string,
  authenticate: () => Promise<Login | null>,
  account?: string,
  claimed: string | undefined = account,
): Promise<Caller | null> {
  const session = sessionOf(ctx);
  const audit = (error: string | null) =>
    auditAuthentication(ctx.app, { sessionId: session.id, address: session.remoteAddress, caller: error === null ? session.caller : null }, {
      mechanism: what,
      username: claimed ?? null,
      error,
    });
  const watch = sessionCredentials(ctx.app);
  let admissions: Admission[];
  try {
    admissions = await admitLogin(ctx, session.remoteAddress, account);
  } catch (error) {
    await audit((error as Error).message);
    throw error;
  }
  const generation = watch.generation;
  let login: Login | null;
  try {
    login = await authenticate();
  } catch (error) {
    admissions.forEach((admission) => admission.cancel());
    throw error;
  }
  if (!login) {
    admissions.forEach((admission) => admission.failed());
    ctx.app.logger.warn({ remoteAddress: session.remoteAddress, mechanism: what }, 'failed login');
    await audit(LOGIN_FAILURE[what] ?? 'Authentication failed');
    return null;
  }
  admissions.forEach((admission) => admission.succeeded());
  watch.remember(session, login);
  // An account or key changed while this login was checked: check it again, as it is now.
  if (watch.generation !== generation) await watch.recheck(session);
  ctx.app.logger.info({ remoteAddress: session.remoteAddress, username: login.caller.username, mechanism: what }, 'login');
  await audit(session.caller ? null : 'The account changed while logging in');
  return session.caller;
}

const loginEx = defineMethod({
  name: 'auth.login_ex',
  description: 'Log in with a password, an API key or a token; the reply says whether it worked.',
  params: { login_data: LoginData.describe('The mechanism and its credentials.') },
  result: LoginResult,
  roles: [],
  public: true,
  handler: async (ctx, { login_data: data }) => {
    if (data.mechanism === 'OTP_TOKEN') return { response_type: 'AUTH_ERR' as const };
    const caller = await attemptLogin(ctx, data.mechanism, () => {
      if (data.mechanism === 'PASSWORD_PLAIN') return authenticatePassword(ctx.app, data.username, data.password);
      if (data.mechanism === 'API_KEY_PLAIN') return authenticateApiKey(ctx.app, data.api_key, data.username);
      return authenticateToken(ctx.app, data.token, sessionOf(ctx).origin);
    }, data.mechanism === 'PASSWORD_PLAIN' ? data.username : undefined, 'username' in data ? data.username : undefined);
    if (!caller) return { response_type: 'AUTH_ERR' as const };
    return {
      response_type: 'SUCCESS' as const,
      user_info: data.login_options.user_info ? await currentUser(ctx.app, caller) : null,
      authenticator: 'LEVEL_1' as const,
    };
  },
});

const loginExContinue = defineMethod({
  name: 'auth.login_ex_continue',
  description: 'Continue a login that asked for a second factor. certmid never asks for one, so this answers AUTH_ERR.',
  params: {
    login_data: z
      .strictObject({
        mechanism: z.literal('OTP_TOKEN').describe('The second-factor mechanism.'),
        otp_token: z.string().max(1024).describe('The one-time password.'),
      })
      .describe('The second factor.'),
  },
  result: LoginResult,
  roles: [],
  public: true,
  handler: () => ({ response_type: 'AUTH_ERR' as const }),
});

const login = defineMethod({
  name: 'auth.login',
  description: 'Log in with a username and password; true on success.',
  params: {
    username: z.string().max(1024).describe('The account name.'),
    password: z.string().max(1024).describe('The account password.'),
    otp_token: z.string().nullable().default(null).describe('One-time password (unused).'),
  },
  result: z.boolean(),
  roles: [],
  public: true,
  handler: async (ctx, { username, password }) =>
    (await attemptLogin(ctx, 'PASSWORD_PLAIN', () => authenticatePassword(ctx.app, username, password), username)) !== null,
});

const loginWithApiKey = defineMethod({
  name: 'auth.login_with_api_key',
  description: 'Log in with an API key ("<id>-<secret>"); true on success.',
  params: { api_key: z.string().max(1024).describe('The key.') },
  result: z.boolean(),
  roles: [],
  public: true,
  handler: async (ctx, { api_key }) =>
    (await attemptLogin(ctx, 'API_KEY_PLAIN', () => authenticateApiKey(ctx.app, api_key))) !== null,
});

const loginWithToken = defineMethod({
  name: 'auth.login_with_token',
  description: 'Log in with a token from auth.generate_token; true on success.',
  params: { token: z.string().max(1024).describe('The token.') },
  result: z.boolean(),
  roles: [],
  public: true,
  handler: async (ctx, { token }) =>
    (await attemptLogin(ctx, 'TOKEN_PLAIN', () => authenticateToken(ctx.app, token, sessionOf(ctx).origin))) !== null,
});

const mechanismChoices = defineMethod({
  name: 'auth.mechanism_choices',
  description: 'The login mechanisms this server accepts.',
  params: {},
  result: z.array(z.string()),
  roles: [],
  public: true,
  handler: () => ['API_KEY_PLAIN', 'TOKEN_PLAIN', 'PASSWORD_PLAIN'],
});

const me = defineMethod({
  name: 'auth.me',
  description: 'The logged-in user and its roles.',
  params: {},
  result: UserInfo,
  roles: [],
  handler: (ctx) => currentUser(ctx.app, ctx.caller!),
});

/** A row lock where the database has one (PostgreSQL); SQLite runs transactions one at a time anyway. */
function lockFor(app: App): { mode: 'pessimistic_write' } | undefined {
  return app.db.options.type === 'postgres' ? { mode: 'pessimistic_write' } : undefined;
}

const setAttribute = defineMethod({
  name: 'auth.set_attribute',
  description: 'Set one of the logged-in user\'s web UI attributes (shown in auth.me `attributes`).',
  params: {
    key: z.string().min(1).max(1024).describe('The attribute name.'),
    value: z.unknown().describe('Its value (any JSON).'),
  },
  result: z.null(),
  roles: [],
  audit: false,
  handler: async (ctx, { key, value }) => {
    const username = ctx.caller!.username;
    // Read and write in one transaction, so that two attributes set at once both stay.
    await transaction(ctx.app.db, async (manager) => {
      const users = manager.getRepository(UserEntity);
      const user = await users.findOne({ where: { username }, lock: lockFor(ctx.app) });
      if (!user) throw new CallError(`You are logged in as ${username}, which no longer exists`, 'ENOENT');
      await users.update({ id: user.id }, { attributes: { ...user.attributes, [key]: value ?? null } } as never);
    });
    return null;
  },
});

const logout = defineMethod({
  name: 'auth.logout',
  description: 'End the login of this connection and drop its subscriptions.',
  params: {},
  result: z.literal(true),
  roles: [],
  audit: true,
  handler: async (ctx) => {
    const session = sessionOf(ctx);
    // The tokens this session made die with its login.
    await sessionCredentials(ctx.app).logout(session);
    // The server ends these subscriptions, so it says so (as TrueNAS does when an event source stops).
    for (const collection of new Set(session.subscriptions.values())) {
      session.notify('notify_unsubscribed', { collection, error: toErrorData(new NotAuthenticatedError()) });
    }
    session.subscriptions.clear();
    return true as const;
  },
});

const generateToken = defineMethod({
  name: 'auth.generate_token',
  description: 'A token that logs in as the caller until it is unused for the given number of seconds.',
  params: {
    ttl: z.number().int().min(1).max(86400 * 30).nullable().default(600).describe('Seconds of inactivity after which the token expires.'),
    attrs: z.record(z.string(), z.unknown()).default({}).describe('Attributes kept with the token.'),
    match_origin: z.boolean().default(true).describe('Only accept the token from the same origin.'),
    single_use: z.boolean().default(false).describe('The token works once.'),
  },
  result: z.string(),
  roles: [],
  audit: true,
  handler: async (ctx, { ttl, attrs, match_origin, single_use }) => {
    const session = sessionOf(ctx);
    const watch = sessionCredentials(ctx.app);
    const credential = watch.credentialOf(session);
    if (!credential) throw new NotAuthenticatedError();
    watch.madeToken(session);
    return issueToken(ctx.app, session.id, credential, {
      ttlSeconds: ttl ?? 600,
      attributes: attrs,
      singleUse: single_use,
      origin: match_origin ? session.origin : null,
    });
  },
});

const SessionEntry = z
  .object({
    id: z.string().describe('The session id.'),
    current: z.boolean().describe('Whether this is the calling session.'),
    internal: z.boolean().describe('Whether the session is internal (never here).'),
    origin: z.string().describe('The remote address.'),
    credentials: z.string().describe('How the session logged in: LOGIN_PASSWORD, API_KEY or TOKEN.'),
    credentials_data: z
      .record(z.string(), z.unknown())
      .describe('Who logged in and when; the API key used; for a token, the login of the session that made it (`parent`).'),
    created_at: z.date().describe('When the connection opened.'),
  })
  .describe('A logged-in session.');

/** What a login rests on, as TrueNAS shows it in a session's `credentials`/`credentials_data`. */
function credentialsOf(credential: SessionCredential, keyNames: ReadonlyMap<number, string>, loginAt: Date) {
  const data = { username: credential.username, login_at: loginAt };
  if (credential.apiKey === null) return { credentials: 'LOGIN_PASSWORD', credentials_data: data };
  return { credentials: 'API_KEY', credentials_data: { ...data, api_key: { id: credential.apiKey.id, name: keyNames.get(credential.apiKey.id) ?? '' } } };
}

const sessions = defineMethod({
  name: 'auth.sessions',
  description: 'The logged-in sessions of this daemon.',
  params: { filters: QueryFilters, options: QueryOptions },
  result: z.unknown(),
  roles: ['FULL_ADMIN'],
  audit: false,
  handler: async (ctx, { filters, options }) => {
    const watch = sessionCredentials(ctx.app);
    const open = ctx.app.sessions.all().flatMap((session) => {
      const credential = watch.credentialOf(session);
      return session.caller && credential ? [{ session, caller: session.caller, credential }] : [];
    });
    const keyIds = [...new Set(open.flatMap(({ credential }) => (credential.apiKey ? [credential.apiKey.id] : [])))];
    const keys = keyIds.length > 0 ? await ctx.app.db.getRepository(ApiKeyEntity).findBy({ id: In(keyIds) }) : [];
    const keyNames = new Map(keys.map((key) => [key.id, key.name]));
    const entries = open.map(({ session, caller, credential }) => {
      const own = credentialsOf(credential, keyNames, new Date(credential.loginAt ?? caller.loginAt));
      // A token session shows the login the token was made from as its parent.
      const shown =
        caller.credentialType === 'TOKEN'
          ? { credentials: 'TOKEN', credentials_data: { parent: own, username: caller.username } }
          : own;
      return {
        id: session.id,
        current: session.id === ctx.sessionId,
        internal: false,
        origin: session.remoteAddress,
        ...shown,
        created_at: session.createdAt,
      } satisfies z.input<typeof SessionEntry>;
    });
    return filterListAsync(entries, filters, options);
  },
});

const terminateSession = defineMethod({
  name: 'auth.terminate_session',
  description: 'Close another logged-in session; it is gone from auth.sessions when this returns.',
  params: { id: z.string().max(1024).describe('The session id, from auth.sessions.') },
  result: z.boolean(),
  roles: ['FULL_ADMIN'],
  audit: true,
  handler: async (ctx, { id }) => {
    const session = ctx.app.sessions.get(id);
    if (!session || !session.caller) throw new CallError('Session does not exist', 'ENOENT');
    // Its tokens die with it, as in TrueNAS.
    await sessionCredentials(ctx.app).end(session, 1000, 'Session terminated');
    return true;
  },
});

const terminateOtherSessions = defineMethod({
  name: 'auth.terminate_other_sessions',
  description: 'Close every logged-in session but the calling one; they are gone from auth.sessions when this returns.',
  params: {},
  result: z.literal(true),
  roles: ['FULL_ADMIN'],
  audit: true,
  handler: async (ctx) => {
    const watch = sessionCredentials(ctx.app);
    const others = ctx.app.sessions.all().filter((session) => session.id !== ctx.sessionId && session.caller !== null);
    await Promise.all(others.map((session) => watch.end(session, 1000, 'Session terminated')));
    return true as const;
  },
});

export const authPlugin = definePlugin({
  namespace: 'auth',
  description: 'Logging in and out, tokens and sessions.',
  // TrueNAS 25.04 validates every auth method with pydantic models (api/v25_04_2/auth.py).
  validation: 'pydantic',
  entities: [AuthTokenEntity],
  // Watches account and API-key changes from the start, so open sessions follow them.
  setup: async (app) => void sessionCredentials(app),
  methods: [
    loginEx,
    loginExContinue,
    login,
    loginWithApiKey,
    loginWithToken,
    mechanismChoices,
    me,
    setAttribute,
    logout,
    generateToken,
    sessions,
    terminateSession,
    terminateOtherSessions,
  ],
});
