import { z } from 'zod';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin } from '../../src/api/define-plugin.js';
import { ALERT_EVENT, alertCategories, listAlerts, setDismissed, startAlertChecks } from '../../src/alerts/alerts.js';
import { ALERT_CATEGORIES, ALERT_LEVELS, ALERT_POLICIES } from '../../src/alerts/classes.js';
import { AlertEntity } from '../../src/alerts/entities.js';
import { alertSources } from '../../src/alerts/sources.js';

const AlertEntry = z
  .object({
    uuid: z.string().describe('Identifies the alert while it is in force.'),
    source: z.string().describe('The check that raised it.'),
    klass: z.string().describe('Its class (alert.list_categories lists them).'),
    args: z.record(z.string(), z.unknown()).describe('What fills the class text.'),
    node: z.string().describe('Always "Controller A" (no failover pair here).'),
    key: z.string().describe('What it is about within its class (JSON).'),
    datetime: z.date().describe('When it was raised.'),
    last_occurrence: z.date().describe('When a check last found it.'),
    dismissed: z.boolean().describe('Dismissed by alert.dismiss; restored by alert.restore. A new occurrence after it cleared is not dismissed.'),
    mail: z.null().describe('Unused.'),
    text: z.string().describe("The class's text template."),
    id: z.string().describe('The same as uuid.'),
    level: z.enum(ALERT_LEVELS).describe('Its level (the class default unless alertclasses.update changed it).'),
    formatted: z.string().describe('The text with its arguments.'),
    one_shot: z.boolean().describe('Always false: every certmid alert clears itself when its condition ends.'),
  })
  .describe('An alert in force.');

const Uuid = z.string().max(64).describe('The alert uuid from alert.list.');

const list = defineMethod({
  name: 'alert.list',
  description: 'The alerts in force, most severe first; they clear themselves when the condition ends. Subscribe to alert.list for changes.',
  params: {},
  result: z.array(AlertEntry),
  roles: ['ALERT_LIST_READ'],
  handler: (ctx) => listAlerts(ctx.app),
});

const dismiss = defineMethod({
  name: 'alert.dismiss',
  description: 'Dismiss an alert: it stays listed as dismissed while its condition lasts.',
  params: { uuid: Uuid },
  result: z.null(),
  roles: ['ALERT_LIST_WRITE'],
  handler: async (ctx, { uuid }) => {
    await setDismissed(ctx.app, uuid, true);
    return null;
  },
});

const restore = defineMethod({
  name: 'alert.restore',
  description: 'Restore a dismissed alert.',
  params: { uuid: Uuid },
  result: z.null(),
  roles: ['ALERT_LIST_WRITE'],
  handler: async (ctx, { uuid }) => {
    await setDismissed(ctx.app, uuid, false);
    return null;
  },
});

const listCategories = defineMethod({
  name: 'alert.list_categories',
  description: 'Every class of alert certmid raises, by category.',
  params: {},
  result: z.array(
    z
      .object({
        id: z.string().describe('The category.'),
        title: z.string().describe('Its title.'),
        classes: z
          .array(
            z
              .object({
                id: z.string().describe('The class.'),
                title: z.string().describe('Its title.'),
                level: z.enum(ALERT_LEVELS).describe('Its default level.'),
                proactive_support: z.boolean().describe('Always false.'),
              })
              .describe('An alert class.'),
          )
          .describe('Its classes, by title.'),
      })
      .describe('A category of alerts.'),
  ),
  roles: ['ALERT_LIST_READ'],
  handler: () => alertCategories(ALERT_CATEGORIES),
});

const listPolicies = defineMethod({
  name: 'alert.list_policies',
  description: 'How often a class may be sent: IMMEDIATELY, HOURLY, DAILY or NEVER (never shown either).',
  params: {},
  result: z.array(z.enum(ALERT_POLICIES)),
  roles: ['ALERT_LIST_READ'],
  handler: () => [...ALERT_POLICIES],
});

export const alertPlugin = definePlugin({
  namespace: 'alert',
  description: 'Alerts: expiring, expired, unparsable and revoked-in-use certificates, CAs, ACME renewals, CRLs and job workers.',
  entities: [AlertEntity],
  events: [
    {
      name: ALERT_EVENT,
      description: 'Sent when an alert is raised (ADDED, with the alert), changes or is dismissed (CHANGED) or clears (REMOVED, id only).',
      roles: ['ALERT_LIST_READ'],
    },
  ],
  methods: [list, dismiss, restore, listCategories, listPolicies],
  setup: async (app) => startAlertChecks(app, alertSources(new Date())),
});
