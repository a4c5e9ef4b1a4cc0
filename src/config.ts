import { isIP, isIPv4, isIPv6 } from 'node:net';
import path from 'node:path';
import { z } from 'zod';

/**
 * The only reader of process.env. Everything the daemon and workers can be configured with is here.
 */
const Env = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  /** Outside every browser's restricted-port list (6000, X11, is on it: Chromium says ERR_UNSAFE_PORT). */
  PORT: z.coerce.number().int().min(0).max(65535).default(8470),
  /** Also serve HTTPS and WSS on this port, with the web UI certificate; off when unset. */
  HTTPS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** Plain HTTP only redirects to HTTPS (CRLs and CA certificates excepted); no API on it. */
  HTTPS_ONLY: z.enum(['true', 'false', '1', '0']).transform((flag) => flag === 'true' || flag === '1').default(false),
  /** `Strict-Transport-Security: max-age=…` on HTTPS responses; 0 tells browsers to forget it. */
  HSTS_MAX_AGE_SECONDS: z.coerce.number().int().min(0).max(63_072_000).default(31_536_000),
  /** An anonymous WebSocket connection is closed this long after it opened (or logged out) unless it logs in. */
  LOGIN_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
  /** An HTTP request's headers (WebSocket upgrades included) and a TLS handshake must arrive within this. */
  REQUEST_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(300).default(10),
  /** Anonymous connections kept per client address (IPv6: per /64); the oldest makes way for a new one. */
  ANONYMOUS_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(1).max(100_000).default(64),
  /** All connections kept per client address; beyond it anonymous ones are closed, or the new one refused. */
  CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(1).max(100_000).default(256),
  DATA_DIR: z.string().min(1).default('./data'),
  /** Where certificates, keys, CSRs and CRLs are written as files (TrueNAS's /etc/certificates); DATA_DIR/certificates when unset. */
  CERTIFICATES_DIR: z.string().min(1).optional(),
  /** Whether this daemon writes CERTIFICATES_DIR; false on all but one daemon sharing that directory. */
  CERTIFICATES_WRITE: z.enum(['true', 'false', '1', '0']).transform((flag) => flag === 'true' || flag === '1').default(true),
  /** The `{ca|cert}_<name>.crt` copies of trusted entries, e.g. /usr/local/share/ca-certificates; CERTIFICATES_DIR/trusted-store when unset. */
  TRUSTED_STORE_DIR: z.string().min(1).optional(),
  /** Run after the trusted store changed, without a shell: a JSON array of strings, or words split at spaces. */
  TRUSTED_STORE_UPDATE_COMMAND: z
    .string()
    .transform((text, context) => {
      const argv = parseCommand(text);
      if (!argv) context.addIssue({ code: 'custom', message: 'TRUSTED_STORE_UPDATE_COMMAND must be words, or a JSON array of non-empty strings' });
      return argv ?? [];
    })
    .optional(),
  TRUSTED_STORE_UPDATE_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgres:// URL')
    .optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'REDIS_URL must be a redis:// URL')
    .optional(),
  ADMIN_USERNAME: z.string().min(1).default('admin'),
  ADMIN_PASSWORD: z.string().min(1).optional(),
  /** Base64 of 32 bytes; when unset the master key lives in DATA_DIR/master.key. */
  MASTER_KEY: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Base URL that certificates name for CRLs and CA certificates; http://HOST:PORT when unset. */
  PUBLIC_URL: z.string().regex(/^https?:\/\/[^/]+/, 'PUBLIC_URL must be an http(s) URL').optional(),
  /** BullMQ queue name prefix, so several deployments can share one Redis. */
  QUEUE_PREFIX: z.string().min(1).default('certmid'),
  /** How often `certificate.renew_certs` runs (it also runs at start); at most weekly; tests shorten it. */
  RENEWAL_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(604_800).default(86_400),
  /** The wait before retrying a failed renewal, doubled after each failure in a row up to a day; tests shorten it. */
  RENEWAL_RETRY_SECONDS: z.coerce.number().int().min(1).max(86_400).default(3_600),
  /** The wait before retrying a failed deploy target, doubled after each failure in a row up to a day; tests shorten it. */
  DEPLOY_RETRY_SECONDS: z.coerce.number().int().min(1).max(86_400).default(300),
  /**
   * How often each daemon and worker records that it is alive; one silent for three beats is dead
   * and its jobs end FAILED (interrupted). Tests shorten it.
   */
  JOB_HEARTBEAT_SECONDS: z.coerce.number().min(0.2).max(3600).default(10),
  ALERT_CHECK_INTERVAL_SECONDS: z.coerce.number().min(0.2).max(86_400).default(300),
  /** The wait before sending alerts through a channel again after a failure, doubled after each one up to an hour; tests shorten it. */
  ALERT_RETRY_SECONDS: z.coerce.number().min(0.2).max(3600).default(60),
  /**
   * DNS servers for ACME's own look-ups (zones, name servers, CNAMEs), comma separated, each an IP
   * with an optional port (`10.0.0.53`, `[2001:db8::53]:5353`); the system's resolvers when unset.
   */
  DNS_RESOLVERS: z
    .string()
    .transform((text) => text.split(',').map((item) => item.trim()).filter(Boolean))
    .refine((servers) => servers.length > 0 && servers.every(isResolverAddress), 'DNS_RESOLVERS must list IP addresses, each with an optional port')
    .optional(),
})
  .superRefine((env, context) => {
    const certificatesDir = env.CERTIFICATES_DIR ?? path.join(env.DATA_DIR, 'certificates');
    if (env.TRUSTED_STORE_DIR !== undefined && overlapsCertificateDirs(env.TRUSTED_STORE_DIR, certificatesDir)) {
      const message = 'TRUSTED_STORE_DIR must not be CERTIFICATES_DIR or its CA directory (the file names would collide)';
      context.addIssue({ code: 'custom', path: ['TRUSTED_STORE_DIR'], message });
    }
    if (env.HTTPS_ONLY && env.HTTPS_PORT === undefined) context.addIssue({ code: 'custom', path: ['HTTPS_ONLY'], message: 'HTTPS_ONLY needs HTTPS_PORT' });
    if (env.ANONYMOUS_CONNECTIONS_PER_ADDRESS > env.CONNECTIONS_PER_ADDRESS) {
      const message = 'ANONYMOUS_CONNECTIONS_PER_ADDRESS may not exceed CONNECTIONS_PER_ADDRESS';
      context.addIssue({ code: 'custom', path: ['ANONYMOUS_CONNECTIONS_PER_ADDRESS'], message });
    }
  });

/** `["/usr/sbin/update-ca-certificates", "--fresh"]` or `update-ca-certificates --fresh`; null when neither. */
export function parseCommand(text: string): string[] | null {
  if (text.trimStart().startsWith('[')) {
    try {
      const argv: unknown = JSON.parse(text);
      return Array.isArray(argv) && argv.length > 0 && argv.every((word) => typeof word === 'string' && word !== '') ? (argv as string[]) : null;
    } catch {
      return null;
    }
  }
  const words = text.split(/\s+/).filter(Boolean);
  return words.length > 0 ? words : null;
}

function overlapsCertificateDirs(trusted: string, certificates: string): boolean {
  const resolved = path.resolve(trusted);
  return resolved === path.resolve(certificates) || resolved === path.resolve(certificates, 'CA');
}

/** `1.2.3.4`, `1.2.3.4:53`, `2001:db8::1` or `[2001:db8::1]:53`, as dns.setServers takes them. */
function isResolverAddress(text: string): boolean {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed) return isIPv6(bracketed[1]!) && validPort(bracketed[2]);
  if (isIP(text) !== 0) return true;
  const withPort = /^([^:]+):(\d{1,5})$/.exec(text);
  return withPort !== null && isIPv4(withPort[1]!) && validPort(withPort[2]);
}

function validPort(port: string | undefined): boolean {
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
}

export interface Config {
  host: string;
  port: number;
  httpsPort: number | undefined;
  httpsOnly: boolean;
  hstsMaxAgeSeconds: number;
  loginTimeoutSeconds: number;
  requestTimeoutSeconds: number;
  anonymousConnectionsPerAddress: number;
  connectionsPerAddress: number;
  dataDir: string;
  certificatesDir: string;
  /** This daemon writes certificatesDir (workers never do). */
  certificatesWrite: boolean;
  trustedStoreDir: string;
  /** Argument vector run after the trusted store changed; null for none. */
  trustedStoreUpdateCommand: readonly string[] | null;
  trustedStoreUpdateTimeoutSeconds: number;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  adminUsername: string;
  adminPassword: string | undefined;
  masterKey: string | undefined;
  logLevel: string;
  queuePrefix: string;
  publicUrl: string | undefined;
  renewalIntervalSeconds: number;
  renewalRetrySeconds: number;
  deployRetrySeconds: number;
  jobHeartbeatSeconds: number;
  /** How often alerts are checked besides after each change. */
  alertCheckIntervalSeconds: number;
  /** The first wait before a failed alert send is tried again. */
  alertRetrySeconds: number;
  dnsResolvers: readonly string[] | undefined;
}

/** Reads the configuration from an environment (process.env by default), failing with every problem at once. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Readonly<Config> {
  const parsed = Env.safeParse(
    Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== '')),
  );
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.DATA_DIR);
  const certificatesDir = path.resolve(e.CERTIFICATES_DIR ?? path.join(dataDir, 'certificates'));
  return Object.freeze({
    host: e.HOST,
    port: e.PORT,
    httpsPort: e.HTTPS_PORT,
    httpsOnly: e.HTTPS_ONLY,
    hstsMaxAgeSeconds: e.HSTS_MAX_AGE_SECONDS,
    loginTimeoutSeconds: e.LOGIN_TIMEOUT_SECONDS,
    requestTimeoutSeconds: e.REQUEST_TIMEOUT_SECONDS,
    anonymousConnectionsPerAddress: e.ANONYMOUS_CONNECTIONS_PER_ADDRESS,
    connectionsPerAddress: e.CONNECTIONS_PER_ADDRESS,
    dataDir,
    certificatesDir,
    certificatesWrite: e.CERTIFICATES_WRITE,
    trustedStoreDir: path.resolve(e.TRUSTED_STORE_DIR ?? path.join(certificatesDir, 'trusted-store')),
    trustedStoreUpdateCommand: e.TRUSTED_STORE_UPDATE_COMMAND ?? null,
    trustedStoreUpdateTimeoutSeconds: e.TRUSTED_STORE_UPDATE_TIMEOUT_SECONDS,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    adminUsername: e.ADMIN_USERNAME,
    adminPassword: e.ADMIN_PASSWORD,
    masterKey: e.MASTER_KEY,
    logLevel: e.LOG_LEVEL,
    queuePrefix: e.QUEUE_PREFIX,
    publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    renewalIntervalSeconds: e.RENEWAL_INTERVAL_SECONDS,
    renewalRetrySeconds: e.RENEWAL_RETRY_SECONDS,
    deployRetrySeconds: e.DEPLOY_RETRY_SECONDS,
    jobHeartbeatSeconds: e.JOB_HEARTBEAT_SECONDS,
    alertCheckIntervalSeconds: e.ALERT_CHECK_INTERVAL_SECONDS,
    alertRetrySeconds: e.ALERT_RETRY_SECONDS,
    dnsResolvers: e.DNS_RESOLVERS,
  });
}
