import net, { isIP, isIPv4, isIPv6 } from 'node:net';
import os from 'node:os';
import { z } from 'zod';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin } from '../../src/api/define-plugin.js';
import type { CallContext } from '../../src/api/call-context.js';
import type { App } from '../../src/app.js';
import { setUiCertificateId, uiCertificateId } from '../../src/certs/default-certificate.js';
import { CERT_TYPE_CSR, CertificateEntity } from '../../src/certs/entities.js';
import { getCertificate } from '../../src/certs/certificate-service.js';
import { keyAccessOf } from '../../src/certs/store.js';
import { withChanges } from '../../src/db/entity-events.js';
import { ValidationErrors } from '../../src/errors/validation-errors.js';
import { TLS_PROTOCOLS } from '../../src/rpc/transport-policy.js';
import { DEFAULT_SETTINGS, processTimeZone, readStoredSettings, SETTINGS_EVENT, writeStoredSettings, type StoredSettings } from '../../src/system-general/settings.js';
import { checkUiCertificate } from '../../src/system-general/ui-certificate-checks.js';
import { applyUiSettings, listeningPorts, presentedUiCertificate } from '../../src/system-general/ui-https.js';

const NAMESPACE = 'system.general';
const SCHEMA = 'general_settings';

const TcpPort = z.number().int().min(1).max(65535);
/** Every version TrueNAS's schema names; those certmid does not serve are refused by the update's checks. */
const HttpsProtocol = z.enum(['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']);
const unique = (list: readonly unknown[]) => new Set(list).size === list.length;
const Address = (test: (text: string) => boolean, message: string) => z.string().refine(test, { error: message });
const isNetwork = (text: string) => {
  const [address = '', prefix, ...rest] = text.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
};

const GeneralSettingsUpdate = z
  .strictObject({
    ui_certificate: z.number().int().nullable().optional().describe('The id of the certificate HTTPS presents (not a CSR, with its key, neither expired nor revoked).'),
    ui_httpsport: TcpPort.nullable().optional().describe('The HTTPS port; null turns HTTPS off. Read-only when HTTPS_PORT is set.'),
    ui_httpsredirect: z.boolean().optional().describe('Plain HTTP only redirects to HTTPS (CRLs and CA certificates excepted). Read-only when HTTPS_PORT is set.'),
    ui_httpsprotocols: z.array(HttpsProtocol).min(1).refine(unique, { error: 'List must be unique' }).optional().describe('TLS versions offered: TLSv1.2, TLSv1.3.'),
    ui_port: TcpPort.optional().describe('The plain HTTP port; set by PORT, so only its current value is accepted.'),
    ui_address: z.array(Address(isIPv4, 'Input is not a valid IPv4 address')).min(1).optional().describe('Stored for TrueNAS clients; the daemon listens on HOST.'),
    ui_v6address: z.array(Address(isIPv6, 'Input is not a valid IPv6 address')).min(1).optional().describe('Stored for TrueNAS clients; the daemon listens on HOST.'),
    ui_allowlist: z.array(Address(isNetwork, 'Input is not a valid IPv4 or IPv6 network')).optional().describe('Stored for TrueNAS clients; no effect.'),
    ui_consolemsg: z.boolean().optional().describe('Stored for TrueNAS clients; no effect.'),
    ui_x_frame_options: z.enum(['SAMEORIGIN', 'DENY', 'ALLOW_ALL']).optional().describe('Stored for TrueNAS clients; no effect.'),
    kbdmap: z.string().optional().describe('Stored for TrueNAS clients; no effect.'),
    timezone: z.string().min(1).optional().describe("The daemon's time zone, from TZ; only its current value is accepted."),
    usage_collection: z.boolean().nullable().optional().describe('Stored for TrueNAS clients; certmid collects nothing.'),
    ds_auth: z.boolean().optional().describe('Directory-service logins: not available, only false is accepted.'),
    ui_restart_delay: z.number().int().nullable().optional().describe('Accepted for TrueNAS clients: changes apply at once, nothing restarts.'),
    rollback_timeout: z.number().int().nullable().optional().describe('Accepted for TrueNAS clients: changes apply at once and never drop open connections, so there is nothing to roll back.'),
  })
  .describe('The settings to change; the others keep their values.');

type Update = z.output<typeof GeneralSettingsUpdate>;

/** The values `update` compares and checks: TrueNAS's entry with the certificate as its id. */
interface Values extends StoredSettings {
  ui_certificate: number | null;
  ui_port: number;
  timezone: string;
}

const GeneralSettingsEntry = z
  .object({
    id: z.number().describe('Always 1: there is one set of settings.'),
    ui_certificate: z.record(z.string(), z.unknown()).nullable().describe('The certificate entry HTTPS presents (as certificate.get_instance shows it).'),
    ui_httpsport: TcpPort.nullable().describe('The HTTPS port, null while there is no HTTPS.'),
    ui_httpsredirect: z.boolean().describe('Whether plain HTTP only redirects to HTTPS.'),
    ui_httpsprotocols: z.array(z.string()).describe('The TLS versions offered.'),
    ui_port: TcpPort.describe('The plain HTTP port (PORT).'),
    ui_address: z.array(z.string()).describe('As stored; the daemon listens on HOST.'),
    ui_v6address: z.array(z.string()).describe('As stored; the daemon listens on HOST.'),
    ui_allowlist: z.array(z.string()).describe('As stored; no effect.'),
    ui_consolemsg: z.boolean().describe('As stored; no effect.'),
    ui_x_frame_options: z.string().describe('As stored; no effect.'),
    kbdmap: z.string().describe('As stored; no effect.'),
    timezone: z.string().describe("The daemon's time zone (TZ), in which from/until are written."),
    usage_collection: z.boolean().describe('As stored (true until set, as in TrueNAS); certmid collects nothing.'),
    wizardshown: z.boolean().describe('Always false: there is no setup wizard.'),
    usage_collection_is_set: z.boolean().describe('Whether usage_collection was ever set.'),
    ds_auth: z.boolean().describe('Always false: there are no directory services.'),
    set_by_environment: z.record(z.string(), z.string()).describe('Fields the environment sets (field → variable), which update only accepts unchanged: a certmid addition.'),
  })
  .describe("The daemon's own web UI settings.");

/** The fields an environment variable decides, with the variable and the value it gives. */
function environmentFields(app: App): Map<keyof Values, { variable: string; value: unknown }> {
  const { config } = app;
  const ports = listeningPorts(app);
  const fixed = new Map<keyof Values, { variable: string; value: unknown }>([
    ['ui_port', { variable: 'PORT', value: ports?.http ?? config.port }],
    ['timezone', { variable: 'TZ', value: processTimeZone() }],
  ]);
  if (config.httpsPort !== undefined) {
    fixed.set('ui_httpsport', { variable: 'HTTPS_PORT', value: ports?.https ?? (config.httpsPort || null) });
    fixed.set('ui_httpsredirect', { variable: 'HTTPS_ONLY', value: config.httpsOnly });
  }
  return fixed;
}

async function currentValues(app: App): Promise<Values> {
  const values: Values = { ...(await readStoredSettings(app)), ui_certificate: await uiCertificateId(app), ui_port: app.config.port, timezone: '' };
  for (const [field, { value }] of environmentFields(app)) Object.assign(values, { [field]: value });
  return values;
}

/** `system.general.config`: TrueNAS's entry, the certificate as its entry with keys as the caller may see them. */
async function generalConfig(ctx: CallContext): Promise<z.input<typeof GeneralSettingsEntry>> {
  const { app } = ctx;
  const values = await currentValues(app);
  const certificate = values.ui_certificate === null ? null : await getCertificate(app, values.ui_certificate, keyAccessOf(ctx.caller)).catch(() => null);
  return {
    id: 1,
    ...values,
    ui_certificate: certificate,
    usage_collection: values.usage_collection ?? true,
    wizardshown: false,
    usage_collection_is_set: values.usage_collection !== null,
    set_by_environment: Object.fromEntries([...environmentFields(app)].map(([field, { variable }]) => [field, variable])),
  };
}

/** Whether a port can be listened on at HOST now, or why not. */
function portProblem(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EADDRINUSE' ? 'it is in use' : error.code === 'EACCES' ? 'permission denied' : error.message));
    probe.listen(port, host, () => probe.close(() => resolve(null)));
  });
}

/**
 * TrueNAS's checks, each when one of its fields changed (as its SettingsHelper runs them), with its
 * words where it has them, and certmid's for what differs here: fields the environment sets, TLS
 * versions not served, a port that cannot open, a redirect with nowhere to go.
 */
async function checkUpdate(app: App, old: Values, next: Values, errors: ValidationErrors): Promise<void> {
  const changed = (...fields: Array<keyof Values>) => fields.some((field) => JSON.stringify(old[field]) !== JSON.stringify(next[field]));
  const at = (field: string) => `${SCHEMA}.${field}`;
  for (const [field, { variable }] of environmentFields(app)) {
    if (changed(field)) errors.add(at(field), `Set by the ${variable} environment variable (${JSON.stringify(old[field])}); change it there`);
  }
  if (changed('ui_port', 'ui_httpsport') && next.ui_port === next.ui_httpsport) errors.add(at('ui_port'), 'Must be different from "ui_httpsport"');
  if (changed('ui_httpsport') && next.ui_httpsport !== null && !errors.has(at('ui_httpsport')) && !errors.has(at('ui_port'))) {
    const problem = await portProblem(app.config.host, next.ui_httpsport);
    if (problem) errors.add(at('ui_httpsport'), `Port ${next.ui_httpsport} cannot be used on ${app.config.host}: ${problem}`);
  }
  if (changed('ui_httpsredirect', 'ui_httpsport') && next.ui_httpsredirect && next.ui_httpsport === null) {
    errors.add(at('ui_httpsredirect'), 'Redirecting to HTTPS needs an HTTPS port: set ui_httpsport too');
  }
  if (changed('ui_httpsprotocols')) {
    for (const version of next.ui_httpsprotocols.filter((v) => !(TLS_PROTOCOLS as readonly string[]).includes(v))) {
      errors.add(at('ui_httpsprotocols'), `${version} is not offered: the daemon serves ${TLS_PROTOCOLS.join(' and ')} only`);
    }
  }
  if (changed('ds_auth') && next.ds_auth) errors.add(at('ds_auth'), 'Directory services authentication for UI and API access is not available: certmid has no directory services');
  for (const [field, wildcard] of [['ui_address', '0.0.0.0'], ['ui_v6address', '::']] as const) {
    if (changed(field) && next[field].includes(wildcard) && next[field].length > 1) {
      errors.add(at(field), `When "${wildcard}" has been selected, selection of other addresses is not allowed`);
    }
  }
  if (changed('ui_certificate')) await checkUiCertificate(app, next.ui_certificate, at('ui_certificate'), errors);
}

/** The changes to store: fields the environment sets keep what was stored. */
function storedChanges(changes: Readonly<Record<string, unknown>>, fixed: ReadonlyMap<keyof Values, unknown>): Partial<StoredSettings> {
  return Object.fromEntries(Object.entries(changes).filter(([field]) => field in DEFAULT_SETTINGS && !fixed.has(field as keyof Values)));
}

async function updateSettings(ctx: CallContext, data: Update): Promise<z.input<typeof GeneralSettingsEntry>> {
  const { app } = ctx;
  const { ui_restart_delay: _restartDelay, rollback_timeout: _rollbackTimeout, ...changes } = data;
  const old = await currentValues(app);
  const next = { ...old, ...changes } as Values;
  const errors = new ValidationErrors();
  await checkUpdate(app, old, next, errors);
  errors.check();
  const certificateChanged = next.ui_certificate !== old.ui_certificate;
  await withChanges(app, async (manager, events) => {
    if (certificateChanged) {
      // Again where it counts: the certificate may have been deleted or revoked meanwhile.
      const late = new ValidationErrors();
      await checkUiCertificate(app, next.ui_certificate, `${SCHEMA}.ui_certificate`, late, manager);
      late.check();
      await setUiCertificateId(manager, next.ui_certificate!);
      // Their `used_by` changed.
      if (old.ui_certificate !== null) events.changed('certificate', old.ui_certificate);
      events.changed('certificate', next.ui_certificate!);
    }
    // Applied to the settings as stored now, so that a concurrent update of other fields is kept.
    await writeStoredSettings(manager, { ...(await readStoredSettings(app, manager)), ...storedChanges(changes, environmentFields(app)) });
  });
  await app.events.publish({ collection: SETTINGS_EVENT, msg: 'changed', id: 1 });
  // In effect on this daemon before the reply; the others follow the event.
  await applyUiSettings(app);
  app.logger.info({ changed: Object.keys(changes) }, 'system.general settings updated');
  return generalConfig(ctx);
}

const config = defineMethod({
  name: 'system.general.config',
  description:
    "The daemon's own web UI settings: the certificate HTTPS presents (ui_certificate, as its entry), the HTTPS port, redirect and TLS versions, the HTTP port. set_by_environment lists the fields an environment variable sets.",
  params: {},
  result: GeneralSettingsEntry,
  roles: ['SYSTEM_GENERAL_READ'],
  handler: generalConfig,
});

const update = defineMethod({
  name: 'system.general.update',
  description:
    'Change the web UI settings; they take effect at once, on every daemon, for new connections, without dropping open ones (a renewed or another certificate, another port, the redirect). ' +
    'ui_certificate takes a certificate id. With HTTPS_PORT in the environment, ui_httpsport and ui_httpsredirect come from HTTPS_PORT and HTTPS_ONLY; otherwise a port set here opens HTTPS and null closes it. ' +
    "Fields TrueNAS has that mean nothing here are stored and returned as given. Returns the new settings.",
  params: { general_settings: GeneralSettingsUpdate },
  result: GeneralSettingsEntry,
  roles: ['SYSTEM_GENERAL_WRITE'],
  handler: (ctx, { general_settings }) => updateSettings(ctx, general_settings),
});

const uiCertificateChoices = defineMethod({
  name: 'system.general.ui_certificate_choices',
  description: 'The certificates HTTPS may be given (every certificate that is not a CSR), as id → name.',
  params: {},
  result: z.record(z.string(), z.string()),
  roles: ['SYSTEM_GENERAL_READ'],
  handler: async (ctx) => {
    const rows = await ctx.app.db.getRepository(CertificateEntity).find({ select: { id: true, name: true, type: true }, order: { id: 'ASC' } });
    return Object.fromEntries(rows.filter((row) => (row.type & CERT_TYPE_CSR) === 0).map((row) => [String(row.id), row.name]));
  },
});

const protocolChoices = defineMethod({
  name: 'system.general.ui_httpsprotocols_choices',
  description: 'The TLS versions HTTPS can offer.',
  params: {},
  result: z.record(z.string(), z.string()),
  roles: ['SYSTEM_GENERAL_READ'],
  handler: () => Object.fromEntries(TLS_PROTOCOLS.map((version) => [version, version])),
});

/** This host's addresses of one family, as `{address: address}` (TrueNAS lists its static ones). */
function addressChoices(family: 'IPv4' | 'IPv6'): Record<string, string> {
  const addresses = Object.values(os.networkInterfaces()).flatMap((list) => list ?? []).filter((item) => item.family === family);
  return Object.fromEntries(addresses.map((item) => [item.address, item.address]));
}

const addressChoicesMethod = (name: string, family: 'IPv4' | 'IPv6') =>
  defineMethod({
    name,
    description: `This host's ${family} addresses (the values ui_address and ui_v6address are checked against by TrueNAS; stored only here).`,
    params: {},
    result: z.record(z.string(), z.string()),
    roles: ['SYSTEM_GENERAL_READ'],
    handler: () => addressChoices(family),
  });

const uiRestart = defineMethod({
  name: 'system.general.ui_restart',
  description: 'Accepted for TrueNAS clients, which call it after an update: changes already took effect, so nothing restarts and no connection drops.',
  params: { delay: z.number().int().min(0).default(3).describe('Seconds TrueNAS waits before restarting; nothing waits here.') },
  result: z.null(),
  roles: ['SYSTEM_GENERAL_WRITE'],
  handler: async (ctx) => {
    await applyUiSettings(ctx.app);
    return null;
  },
});

const checkinWaiting = defineMethod({
  name: 'system.general.checkin_waiting',
  description: 'Seconds before settings saved with rollback_timeout roll back: always null, as nothing ever rolls back here.',
  params: {},
  result: z.null(),
  roles: ['SYSTEM_GENERAL_WRITE'],
  handler: () => null,
});

const checkin = defineMethod({
  name: 'system.general.checkin',
  description: 'Confirms settings saved with rollback_timeout: accepted, as nothing ever rolls back here.',
  params: {},
  result: z.null(),
  roles: ['SYSTEM_GENERAL_WRITE'],
  handler: () => null,
});

/** TrueNAS's system.general, for the settings that apply here: the daemon's own HTTPS. */
export const systemGeneralPlugin = definePlugin({
  namespace: NAMESPACE,
  description: "The daemon's own web UI settings: its HTTPS certificate, port, redirect and TLS versions.",
  // TrueNAS 25.04 validates system.general with pydantic models (api/v25_04_0/system_general.py).
  validation: 'pydantic',
  dependsOn: ['certificate'],
  // The UI certificate is TrueNAS's "UI Service": shown as a user of it, kept from deletion and revocation.
  certificateUsage: {
    async uses(app, manager, ids) {
      const id = await uiCertificateId(app, manager);
      if (id === null || (ids && !ids.includes(id))) return [];
      // The serial HTTPS presents once it has taken this certificate up; null while it presents none of it.
      const presented = await presentedUiCertificate(manager);
      const serial = presented?.certificate === id ? presented.serial : null;
      return [{ certificate: id, use: { type: 'UI', name: 'UI Service', serial } }];
    },
  },
  methods: [
    config,
    update,
    uiCertificateChoices,
    protocolChoices,
    addressChoicesMethod('system.general.ui_address_choices', 'IPv4'),
    addressChoicesMethod('system.general.ui_v6address_choices', 'IPv6'),
    uiRestart,
    checkinWaiting,
    checkin,
  ],
});
