import { z } from 'zod';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin, queryEvent } from '../../src/api/define-plugin.js';
import type { CallContext } from '../../src/api/call-context.js';
import { sendThrough, startAlertDelivery } from '../../src/alerts/channels/delivery.js';
import { AlertOutboxEntity, AlertServiceEntity, type AlertServiceRow } from '../../src/alerts/channels/entities.js';
import {
  AlertServiceCreate,
  AlertServiceEntry,
  AlertServiceUpdate,
  checkChannel,
  createAlertService,
  deleteAlertService,
  getAlertService,
  mergedChannel,
  NAMESPACE,
  queryAlertServices,
  updateAlertService,
} from '../../src/alerts/channels/store.js';
import { CallError } from '../../src/errors/call-error.js';
import { QueryFilters, QueryOptions } from '../../src/query/schemas.js';

const Id = z.number().int().describe('The channel id.');
const READ = ['ALERT_READ'] as const;
const WRITE = ['ALERT_WRITE'] as const;

const query = defineMethod({
  name: 'alertservice.query',
  description: 'Alert channels, filtered with the query language. Secret attributes (tokens, webhook URLs, HMAC secrets) read "********".',
  params: { filters: QueryFilters, options: QueryOptions },
  result: z.unknown(),
  roles: READ,
  handler: (ctx, { filters, options }) => queryAlertServices(ctx.app, filters, options),
});

const getInstanceMethod = defineMethod({
  name: 'alertservice.get_instance',
  description: 'One alert channel by id.',
  params: { id: Id, options: QueryOptions },
  result: AlertServiceEntry,
  roles: READ,
  handler: (ctx, { id, options }) => getAlertService(ctx.app, id, options),
});

const create = defineMethod({
  name: 'alertservice.create',
  description: 'Add an alert channel of a `type` (Mail, Slack, Mattermost, Webhook, Ntfy, Gotify); alerts at or above `level` are sent through it while `enabled`.',
  params: { alert_service_create: AlertServiceCreate },
  result: AlertServiceEntry,
  roles: WRITE,
  auditDescription: 'Create alert service',
  handler: (ctx, { alert_service_create }) => createAlertService(ctx, alert_service_create),
});

const update = defineMethod({
  name: 'alertservice.update',
  description: 'Change an alert channel. Alerts waiting to be sent through it are tried again at once.',
  params: { id: Id, alert_service_update: AlertServiceUpdate },
  result: AlertServiceEntry,
  roles: WRITE,
  auditDescription: 'Update alert service',
  handler: (ctx, { id, alert_service_update }) => updateAlertService(ctx, id, alert_service_update),
});

const remove = defineMethod({
  name: 'alertservice.delete',
  description: 'Delete an alert channel and what waits to be sent through it.',
  params: { id: Id },
  result: z.literal(true),
  roles: WRITE,
  auditDescription: 'Delete alert service',
  handler: (ctx, { id }) => deleteAlertService(ctx, id),
});

const AlertServiceTest = AlertServiceCreate.safeExtend({
  id: z.number().int().optional().describe('certmid: a saved channel whose secrets fill those given as "********".'),
}).describe('The channel to test: unsaved settings, or a saved channel\'s id with changes.');

async function testChannel(ctx: CallContext, data: z.output<typeof AlertServiceTest>): Promise<true> {
  const schema = 'alert_service_create';
  const { id, ...given } = data;
  const channel = id === undefined ? checkChannel(schema, given) : (await mergedChannel(ctx.app, schema, id, given)).channel;
  const service: AlertServiceRow = {
    id: id ?? 0,
    name: channel.name,
    type: channel.type,
    attributes: ctx.app.secrets.encrypt(JSON.stringify(channel.attributes)),
    level: channel.level,
    enabled: true,
    last_error: null,
  };
  const error = await sendThrough(ctx.app, service, { new: [], gone: [], test: true });
  if (error !== null) throw new CallError(`Sending a test alert through ${JSON.stringify(channel.name)} failed: ${error}`, 'EFAULT');
  return true;
}

const test = defineMethod({
  name: 'alertservice.test',
  description: 'Send a test alert ("This is a test alert") through a channel\'s settings; a failure is an error with the reason.',
  params: { alert_service_create: AlertServiceTest },
  result: z.boolean(),
  roles: WRITE,
  auditDescription: 'Test alert service',
  handler: (ctx, { alert_service_create }) => testChannel(ctx, alert_service_create),
});

export const alertServicePlugin = definePlugin({
  namespace: NAMESPACE,
  description: 'Alert channels: e-mail, Slack, Mattermost, signed webhooks, ntfy and Gotify.',
  dependsOn: ['alert', 'mail'],
  // A pydantic-model namespace in TrueNAS 25.04: its argument errors read as pydantic's.
  validation: 'pydantic',
  entities: [AlertServiceEntity, AlertOutboxEntity],
  events: [queryEvent(NAMESPACE, READ, 'an alert channel')],
  methods: [query, getInstanceMethod, create, update, remove, test],
  setup: async (app) => startAlertDelivery(app),
});
