import { z } from 'zod';
import { defineMethod } from '../../src/api/define-method.js';
import { selectRows } from '../../src/db/row-statements.js';
import { definePlugin, queryEvent } from '../../src/api/define-plugin.js';
import { DeployLinkEntity, DeployTargetEntity } from '../../src/deploy/entities.js';
import { linkRoutes } from '../../src/deploy/links.js';
import { RUN_METHOD, runTarget, startSweeps } from '../../src/deploy/runs.js';
import {
  createTarget,
  deleteTarget,
  fetchTarget,
  getTarget,
  kindChoices,
  kindSchemas,
  NAMESPACE,
  queryTargets,
  READ_ROLES,
  TargetCreate,
  TargetEntry,
  TargetUpdate,
  updateTarget,
  WRITE_ROLES,
} from '../../src/deploy/targets.js';
import { QueryFilters, QueryOptions } from '../../src/query/schemas.js';

const Id = z.number().int().describe('The deploy target id.');

const query = defineMethod({
  name: `${NAMESPACE}.query`,
  description: 'Deploy targets with their last result, filtered with the query language. Secret attributes always read "********".',
  params: { filters: QueryFilters, options: QueryOptions },
  result: z.unknown(),
  roles: READ_ROLES,
  handler: (ctx, { filters, options }) => queryTargets(ctx, filters, options),
});

const getInstanceMethod = defineMethod({
  name: `${NAMESPACE}.get_instance`,
  description: 'One deploy target by id.',
  params: { id: Id, options: QueryOptions },
  result: TargetEntry,
  roles: READ_ROLES,
  handler: (ctx, { id, options }) => getTarget(ctx.app, id, options),
});

const create = defineMethod({
  name: `${NAMESPACE}.create`,
  description:
    'Add a place a certificate is deployed to after every issue and renewal (kind_schemas describes each kind\'s attributes). ' +
    'An enabled target is deployed at once. Attributes are encrypted at rest.',
  params: { certificate_deploy_target_create: TargetCreate },
  result: TargetEntry,
  roles: WRITE_ROLES,
  handler: (ctx, { certificate_deploy_target_create }) => createTarget(ctx, certificate_deploy_target_create),
});

const update = defineMethod({
  name: `${NAMESPACE}.update`,
  description: 'Rename a target, point it at another certificate, replace its attributes (secrets sent as "********" or left out are kept) or enable/disable it. The kind cannot change.',
  params: { id: Id, certificate_deploy_target_update: TargetUpdate },
  result: TargetEntry,
  roles: WRITE_ROLES,
  handler: (ctx, { id, certificate_deploy_target_update }) => updateTarget(ctx, id, certificate_deploy_target_update),
});

const remove = defineMethod({
  name: `${NAMESPACE}.delete`,
  description: 'Delete a deploy target; what it deployed stays where it is.',
  params: { id: Id },
  result: z.literal(true),
  roles: WRITE_ROLES,
  handler: (ctx, { id }) => deleteTarget(ctx, id),
});

const run = defineMethod({
  name: RUN_METHOD,
  description: 'Deploy the certificate to the target now, whatever the serial last deployed. Runs as an abortable job; the result is recorded on the target.',
  params: { id: Id },
  result: TargetEntry,
  roles: WRITE_ROLES,
  job: { lock: ({ id }) => `deploy_target:${id}`, abortable: true },
  precheck: async (ctx, { id }) => {
    await fetchTarget(ctx.app, id);
  },
  handler: (ctx, { id }) => runTarget(ctx, id),
});

const choices = defineMethod({
  name: `${NAMESPACE}.kind_choices`,
  description: 'The kinds of deploy target, as key → label.',
  params: {},
  result: z.record(z.string(), z.string()),
  roles: READ_ROLES,
  handler: () => kindChoices(),
});

const schemas = defineMethod({
  name: `${NAMESPACE}.kind_schemas`,
  description: 'The JSON Schema of each kind\'s `attributes`, for forms: secrets are marked writeOnly, descriptions are the help texts.',
  params: {},
  result: z
    .array(
      z
        .object({
          key: z.string().describe('The `kind` value.'),
          label: z.string().describe('How it is named.'),
          schema: z.record(z.string(), z.unknown()).describe('JSON Schema of `attributes`.'),
        })
        .describe('One kind.'),
    )
    .describe('Every kind.'),
  roles: READ_ROLES,
  handler: () => kindSchemas(),
});

export const certificateDeployTargetPlugin = definePlugin({
  namespace: NAMESPACE,
  description: 'Deploy targets: where each certificate is copied after every issue and renewal (files, webhooks, …), with the last result.',
  dependsOn: ['certificate'],
  entities: [DeployTargetEntity, DeployLinkEntity],
  events: [queryEvent(NAMESPACE, READ_ROLES, 'a deploy target')],
  methods: [query, getInstanceMethod, create, update, remove, run, choices, schemas],
  routes: (app) => linkRoutes(app),
  setup: async (app) => startSweeps(app),
  // Each target is a use of its certificate, telling the serial it holds.
  certificateUsage: {
    async uses(_app, manager, ids) {
      // Fixed SQL with the ids as parameters, so that entries read one after another reuse one prepared statement.
      const where = ids ? `"certificate_id" IN (${ids.map(() => '?').join(', ')})` : '1 = 1';
      const rows = await selectRows(manager, DeployTargetEntity, where, ids ?? [], ['id', 'name', 'certificate_id', 'last_serial']);
      rows.sort((a, b) => a.id - b.id);
      return rows.map((row) => ({
        certificate: row.certificate_id,
        use: { type: 'DEPLOY_TARGET', name: `Deploy target ${row.name}`, id: row.id, serial: row.last_serial },
      }));
    },
  },
});
