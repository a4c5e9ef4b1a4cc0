import { z } from 'zod';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin } from '../../src/api/define-plugin.js';
import type { App } from '../../src/app.js';
import { ALERT_CLASSES_EVENT } from '../../src/alerts/alerts.js';
import { ALERT_CLASSES, ALERT_LEVELS, ALERT_POLICIES, alertClass } from '../../src/alerts/classes.js';
import { readClassSettings, writeClassSettings, type ClassSettings } from '../../src/alerts/class-settings.js';
import { transaction } from '../../src/db/transaction.js';
import { ValidationErrors } from '../../src/errors/validation-errors.js';

const ClassSetting = z
  .strictObject({
    level: z.enum(ALERT_LEVELS).optional().describe("The level this class's alerts get instead of its default."),
    policy: z.enum(ALERT_POLICIES).optional().describe('How often they may be sent; NEVER also hides them.'),
    proactive_support: z.boolean().optional().describe('Accepted for compatibility; unused.'),
    threshold: z.number().int().min(0).max(3650).optional().describe("certmid: the class's limit, in its unit (alertclasses.config lists them)."),
  })
  .describe("One class's settings.");

const AlertClassesEntry = z
  .object({
    id: z.number().describe('Always 1.'),
    classes: z.record(z.string(), ClassSetting).describe('Settings by class name; a class not listed uses its defaults.'),
    thresholds: z
      .record(z.string(), z.object({ value: z.number().describe('In force.'), default: z.number().describe('Without a setting.'), unit: z.enum(['days', 'hours']).describe('Its unit.'), description: z.string().describe('What it limits.') }))
      .describe("certmid: every class's limit in force, for classes whose check has one."),
  })
  .describe('Alert class settings.');

async function entry(app: App): Promise<z.input<typeof AlertClassesEntry>> {
  const classes = await readClassSettings(app);
  const thresholds = Object.fromEntries(
    ALERT_CLASSES.filter((klass) => klass.threshold).map((klass) => [
      klass.name,
      { value: classes[klass.name]?.threshold ?? klass.threshold!.default, default: klass.threshold!.default, unit: klass.threshold!.unit, description: klass.threshold!.description },
    ]),
  );
  return { id: 1, classes, thresholds };
}

const config = defineMethod({
  name: 'alertclasses.config',
  description: 'Per-class alert settings: level, policy and, for classes that have one, the threshold.',
  params: {},
  result: AlertClassesEntry,
  roles: ['ALERT_READ'],
  handler: (ctx) => entry(ctx.app),
});

function checkClasses(classes: ClassSettings): void {
  const errors = new ValidationErrors();
  for (const [name, setting] of Object.entries(classes)) {
    const klass = alertClass(name);
    if (!klass) errors.add(`alert_classes_update.classes.${name}`, `${name}: unknown alert class`);
    else if (setting.threshold !== undefined && !klass.threshold) errors.add(`alert_classes_update.classes.${name}.threshold`, `${name} has no threshold`);
  }
  errors.check();
}

const update = defineMethod({
  name: 'alertclasses.update',
  description: 'Replace the per-class settings; alerts are checked again at once with them.',
  params: {
    alert_classes_update: z.strictObject({ classes: z.record(z.string(), ClassSetting).describe('Settings by class name.') }).describe('The new settings.'),
  },
  result: AlertClassesEntry,
  roles: ['ALERT_WRITE'],
  handler: async (ctx, { alert_classes_update: { classes } }) => {
    checkClasses(classes);
    await transaction(ctx.app.db, (manager) => writeClassSettings(manager, classes));
    // Every daemon checks again with the new settings.
    await ctx.app.events.publish({ collection: ALERT_CLASSES_EVENT, msg: 'changed', id: 1 });
    return entry(ctx.app);
  },
});

export const alertClassesPlugin = definePlugin({
  namespace: 'alertclasses',
  description: 'How each class of alert is raised: level, policy, threshold.',
  dependsOn: ['alert'],
  methods: [config, update],
});
