import { In } from 'typeorm';
import { z } from 'zod';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin } from '../../src/api/define-plugin.js';
import type { App } from '../../src/app.js';
import { auditRetention, pruneAuditEntries, setAuditRetention, verifyAuditChain } from '../../src/audit/chain.js';
import { AUDIT_ENTITIES, AuditEntryEntity, type AuditEntryRow } from '../../src/audit/entities.js';
import { EXPORT_FORMATS, formatReport, readReport, removeOldReports, writeReport } from '../../src/audit/reports.js';
import { CallError } from '../../src/errors/call-error.js';
import { runQuery, type SqlQuerySpec } from '../../src/query/sql-query.js';
import { QueryFilters, QueryOptions } from '../../src/query/schemas.js';
import { jobFiles } from '../../src/transfer/job-files.js';

/** Services TrueNAS audits; certmid has only its own (`MIDDLEWARE`), the others query as empty. */
const SERVICES = ['MIDDLEWARE', 'SMB', 'SUDO'] as const;
const PRUNE_INTERVAL_MS = 60 * 60_000;
const MAX_RETENTION_DAYS = 3650;

const AuditEntry = z
  .object({
    audit_id: z.string().describe('Identifies the entry.'),
    message_timestamp: z.number().describe('When it was written, in seconds since 1970.'),
    timestamp: z.date().describe('When it happened.'),
    address: z.string().describe('The client address.'),
    username: z.string().describe('Who: the logged-in user, or the name a failed login claimed.'),
    session: z.string().describe('The WebSocket session.'),
    service: z.enum(SERVICES).describe('The audited service.'),
    service_data: z.record(z.string(), z.unknown()).describe('How the client was connected: origin, protocol, credentials.'),
    event: z.string().describe('AUTHENTICATION or METHOD_CALL.'),
    event_data: z.record(z.string(), z.unknown()).describe('The login (credentials, error) or the call (method, params with secrets redacted, authorized).'),
    success: z.boolean().describe('Whether it worked.'),
  })
  .describe('An audit entry.');

type AuditEntry = z.input<typeof AuditEntry>;

const AuditQuery = z
  .strictObject({
    services: z.array(z.enum(SERVICES)).default(() => [...SERVICES]).describe('Which services to read.'),
    'query-filters': QueryFilters,
    'query-options': QueryOptions,
  })
  .describe('What to read.');

const AuditExport = AuditQuery.extend({
  export_format: z.enum(EXPORT_FORMATS).default('JSON').describe('The report format. YAML reports are written as JSON, which YAML readers read.'),
}).describe('What to export and how.');

function toEntry(row: AuditEntryRow): AuditEntry {
  const { id: _id, method: _method, prev_digest: _prev, digest: _digest, ...entry } = row;
  return entry as AuditEntry;
}

function querySpec(app: App, services: readonly string[]): SqlQuerySpec<AuditEntryRow, AuditEntry> {
  return {
    dataSource: app.db,
    entity: AuditEntryEntity,
    columns: {
      audit_id: { column: 'audit_id', kind: 'string' },
      message_timestamp: { column: 'message_timestamp', kind: 'number' },
      timestamp: { column: 'timestamp', kind: 'date' },
      address: { column: 'address', kind: 'string' },
      username: { column: 'username', kind: 'string' },
      session: { column: 'session', kind: 'string' },
      service: { column: 'service', kind: 'string' },
      event: { column: 'event', kind: 'string' },
      'event_data.method': { column: 'method', kind: 'string' },
      success: { column: 'success', kind: 'boolean' },
    },
    toEntry,
    baseWhere: { service: In([...services]) },
  };
}

function readEntries(app: App, data: z.output<typeof AuditQuery>) {
  return runQuery(querySpec(app, data.services), data['query-filters'], data['query-options']);
}

const query = defineMethod({
  name: 'audit.query',
  description:
    'Audit entries, oldest first: every login attempt (AUTHENTICATION) and every call that changes state or reveals a secret ' +
    '(METHOD_CALL), with who, from where, when, the parameters (secrets redacted) and whether it worked.',
  params: { audit_query: AuditQuery },
  result: z.unknown(),
  roles: ['SYSTEM_AUDIT_READ'],
  handler: (ctx, { audit_query }) => readEntries(ctx.app, audit_query),
});

const exportMethod = defineMethod({
  name: 'audit.export',
  description: 'Write the entries a query selects to a report (CSV, JSON or YAML) and return its path; fetch it with audit.download_report.',
  params: { audit_export: AuditExport },
  result: z.string(),
  roles: ['SYSTEM_AUDIT_READ'],
  audit: true,
  job: { inDaemon: true },
  handler: async (ctx, { audit_export: { export_format, ...data } }) => {
    if (data['query-options'].count) throw new CallError('Raw row count may not be exported', 'EINVAL');
    if (data['query-options'].get) throw new CallError('Use of "get" query-option is not supported for export', 'EINVAL');
    ctx.job!.progress(0, `Querying data for ${export_format} audit report`);
    const entries = (await readEntries(ctx.app, data)) as Record<string, unknown>[];
    if (entries.length === 0) throw new CallError('No entries were returned by query.', 'ENOENT');
    const file = writeReport(ctx.app, ctx.caller!.username, export_format, formatReport(entries, export_format));
    ctx.job!.progress(100, `Audit report completed and available at ${file}`);
    return file;
  },
});

const downloadReport = defineMethod({
  name: 'audit.download_report',
  description: 'Download a report made by audit.export, through core.download. Each user downloads only the reports they made.',
  params: {
    audit_download: z.strictObject({ report_name: z.string().max(255).describe('The file name audit.export returned (its last part).') }).describe('Which report.'),
  },
  result: z.null(),
  roles: ['SYSTEM_AUDIT_READ'],
  job: { inDaemon: true, pipes: ['output'] },
  handler: (ctx, { audit_download: { report_name } }) => {
    const report = readReport(ctx.app, ctx.caller!.username, report_name);
    if (!report) throw new CallError(`${report_name}: audit report does not exist in the report directory of user (${ctx.caller!.username}).`, 'ENOENT');
    jobFiles(ctx.app).writeOutput(ctx.job!.id, report);
    return null;
  },
});

const AuditConfig = z
  .object({
    id: z.number().describe('Always 1.'),
    retention: z.number().describe('Days entries are kept.'),
  })
  .describe('Audit settings.');

const config = defineMethod({
  name: 'audit.config',
  description: 'The audit settings.',
  params: {},
  result: AuditConfig,
  roles: ['SYSTEM_AUDIT_READ'],
  handler: async (ctx) => ({ id: 1, retention: await auditRetention(ctx.app) }),
});

const update = defineMethod({
  name: 'audit.update',
  description: `Change the audit settings: \`retention\`, the days entries are kept (1 to ${MAX_RETENTION_DAYS}; TrueNAS allows up to 30).`,
  params: {
    system_audit_update: z
      .strictObject({ retention: z.number().int().min(1).max(MAX_RETENTION_DAYS).optional().describe('Days entries are kept.') })
      .describe('The settings to change.'),
  },
  result: AuditConfig,
  roles: ['SYSTEM_AUDIT_WRITE'],
  handler: async (ctx, { system_audit_update }) => {
    if (system_audit_update.retention !== undefined) await setAuditRetention(ctx.app, system_audit_update.retention);
    return { id: 1, retention: await auditRetention(ctx.app) };
  },
});

const VerifyResult = z
  .object({
    valid: z.boolean().describe('Whether every entry from the oldest kept to the newest is as certmid wrote it.'),
    entries: z.number().describe('Entries checked before the first break, or all of them.'),
    first_invalid: z
      .object({ id: z.number().describe('Its row id, in chain order.'), audit_id: z.string().describe('Its audit_id.') }).nullable().describe('The first entry that does not fit, when one can be named.'),
    reason: z.string().nullable().describe('What is wrong.'),
  })
  .describe('The outcome of checking the chain.');

const verify = defineMethod({
  name: 'audit.verify',
  description:
    'Check the audit chain: each entry carries a MAC, under a key derived from the master key, of itself and the entry before it, so an ' +
    'entry changed, removed or reordered in the database, or the newest ones removed, shows here.',
  params: {},
  result: VerifyResult,
  roles: ['SYSTEM_AUDIT_READ'],
  handler: (ctx) => verifyAuditChain(ctx.app),
});

/** Applies the retention: old entries and old reports go. */
async function prune(app: App): Promise<void> {
  try {
    const removed = await pruneAuditEntries(app);
    if (removed > 0) app.logger.info({ removed }, 'audit entries past their retention removed');
    removeOldReports(app, (await auditRetention(app)) * 86_400_000);
  } catch (error) {
    app.logger.error({ err: error }, 'could not apply the audit retention');
  }
}

export const auditPlugin = definePlugin({
  namespace: 'audit',
  description: 'The audit log: logins and state-changing calls, chained so that tampering shows.',
  entities: AUDIT_ENTITIES,
  methods: [query, exportMethod, downloadReport, config, update, verify],
  setup: async (app) => {
    await prune(app);
    const timer = setInterval(() => void prune(app), PRUNE_INTERVAL_MS);
    timer.unref();
    return () => clearInterval(timer);
  },
});
