/**
 * A certificate's deploy targets, in its details: the list with each target's last result, kept
 * current by `certificate.deploy_target.query` events; Add and Edit forms generated from the
 * kinds' schemas (secrets as password inputs, never filled in), Delete, and Run now with the job's
 * progress.
 */
import type { CollectionUpdate } from '../src/client/client.js';
import { attributeField, effective, isNumeric } from './acme.js';
import type { SchemaProperty } from './choices.js';
import type { Connection } from './connection.js';
import { h, iconButton, type Child } from './dom.js';
import { confirm, inform, runJob, toast } from './dialogs.js';
import { describe } from './errors.js';
import { checkbox, input, select, showWhen, type Field, type Option } from './fields.js';
import { dateTime, type CertEntry } from './format.js';
import { formPanel } from './forms.js';

const NAMESPACE = 'certificate.deploy_target';

export interface DeployTarget {
  id: number;
  name: string;
  certificate: number;
  kind: string;
  attributes: Record<string, unknown>;
  enabled: boolean;
  state: 'PENDING' | 'RUNNING' | 'DEPLOYED' | 'FAILED' | 'DISABLED';
  last_serial: string | null;
  last_deployed_at: string | null;
  last_error: string | null;
  attempts: number;
  next_attempt_at: string | null;
}

interface KindSchema {
  key: string;
  label: string;
  schema: { properties: Record<string, SchemaProperty>; required?: string[]; _attrs_order_?: string[] };
}

let kinds: Promise<KindSchema[]> | undefined;

function loadKinds(conn: Connection): Promise<KindSchema[]> {
  kinds ??= conn.call<KindSchema[]>(`${NAMESPACE}.kind_schemas`).catch((error: unknown) => {
    kinds = undefined;
    throw error;
  });
  return kinds;
}

/** One subscription for the page; each open details panel listens while it is open. */
const listeners = new Set<(event: CollectionUpdate) => void>();
let subscribed: Promise<unknown> | undefined;

function listen(conn: Connection, listener: (event: CollectionUpdate) => void): () => void {
  subscribed ??= conn.subscribe(`${NAMESPACE}.query`, (event) => listeners.forEach((each) => each(event))).catch(() => {
    subscribed = undefined;
  });
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const STATE_TONE: Record<DeployTarget['state'], string> = { DEPLOYED: 'ok', RUNNING: 'warn', PENDING: 'warn', FAILED: 'bad', DISABLED: 'muted' };
const STATE_TEXT: Record<DeployTarget['state'], string> = { DEPLOYED: 'Deployed', RUNNING: 'Running', PENDING: 'Pending', FAILED: 'Failed', DISABLED: 'Disabled' };

/** A kind's attribute fields, in its schema's order; secrets are password inputs left empty. */
function kindFields(kind: KindSchema, values: Record<string, unknown>, editing: boolean) {
  const { properties, required = [], _attrs_order_: order = Object.keys(properties) } = kind.schema;
  return order
    .filter((name) => properties[name])
    .map((name) => {
      const raw = properties[name]!;
      const property = effective(raw);
      const secret = raw.writeOnly === true;
      const isRequired = (raw._required_ ?? required.includes(name)) && raw.default === undefined && !(secret && editing);
      const stored = values[name];
      // A command kept as an argument vector is edited as JSON, which the server reads back as one.
      const value = secret ? undefined : Array.isArray(stored) ? JSON.stringify(stored) : stored;
      const field = attributeField(name, secret ? { ...property, writeOnly: true } : property, isRequired, value, `attributes.${name}`);
      if (secret && editing) {
        const hint = field.el.querySelector('.hint') ?? field.el.appendChild(h('p', { class: 'hint' }));
        hint.textContent = `${hint.textContent ? `${hint.textContent} ` : ''}Leave empty to keep the saved value.`;
      }
      return { name, field, numeric: isNumeric(property), boolean: property.type === 'boolean' };
    });
}

/** Add (no `target`) or edit a deploy target of `certificate`. */
async function targetForm(conn: Connection, certificate: CertEntry, target?: DeployTarget): Promise<void> {
  const schemas = await loadKinds(conn);
  const name = input({ path: 'name', label: 'Name', required: true, value: target?.name, hint: 'A unique name for this target.' });
  const kind = select({
    path: 'kind',
    label: 'Kind',
    options: schemas.map((schema): Option => [schema.key, schema.label]),
    value: target?.kind ?? schemas[0]?.key,
    required: true,
    hint: target ? 'The kind of a target cannot change.' : 'Where the certificate goes; its settings follow.',
  });
  if (target) kind.el.querySelector('select')!.disabled = true;
  const enabled = checkbox({ path: 'enabled', label: 'Deploy automatically after every issue and renewal', value: target?.enabled ?? true });
  const sections = schemas.map((schema) => {
    const fields = kindFields(schema, target?.kind === schema.key ? target.attributes : {}, target !== undefined);
    const el = h('div', { class: 'provider-fields' }, fields.map(({ field }) => field.el));
    showWhen(el, () => kind.value() === schema.key, kind);
    return { key: schema.key, fields, el };
  });
  const attributes = () => {
    const section = sections.find((candidate) => candidate.key === kind.value())!;
    return Object.fromEntries(
      section.fields.flatMap(({ name: field, field: control, numeric, boolean }) => {
        const value = control.value();
        if (boolean) return [[field, value === true]];
        if (value === '' || value === null || value === undefined) return [];
        return [[field, numeric ? Number(value) : value]];
      }),
    );
  };
  formPanel({
    title: target ? 'Edit Deploy Target' : 'Add Deploy Target',
    subtitle: `For ${certificate.name}`,
    fields: [name, kind, enabled, ...sections.flatMap((section) => section.fields.map(({ field }) => field as Field<unknown>))],
    content: [name.el, kind.el, enabled.el, sections.map((section) => section.el)],
    submitLabel: 'Save',
    done: target ? 'Deploy target saved.' : 'Deploy target added.',
    submit: () =>
      target
        ? conn.call(`${NAMESPACE}.update`, target.id, { name: name.value(), enabled: enabled.value(), attributes: attributes() })
        : conn.call(`${NAMESPACE}.create`, { name: name.value(), certificate: certificate.id, kind: kind.value(), enabled: enabled.value(), attributes: attributes() }),
  });
}

async function deleteTarget(conn: Connection, target: DeployTarget): Promise<void> {
  const answer = await confirm({
    title: 'Delete Deploy Target',
    message: `Are you sure you want to delete the deploy target "${target.name}"? What it deployed stays where it is.`,
    action: 'Delete',
    danger: true,
  });
  if (!answer) return;
  try {
    await conn.call(`${NAMESPACE}.delete`, target.id);
    toast(`Deploy target "${target.name}" deleted.`);
  } catch (error) {
    await inform('Cannot delete', describe(error));
  }
}

function runNow(conn: Connection, target: DeployTarget): void {
  runJob(conn, `Deploying to ${target.name}`, `${NAMESPACE}.run`, [target.id]).then(
    () => toast(`Deployed to "${target.name}".`),
    () => undefined, // shown in the job dialog
  );
}

/** The Deploy targets section of a certificate's details; `stop` ends its live updates. */
export function deploySection(conn: Connection, certificate: CertEntry): { el: HTMLElement; stop: () => void } {
  const write = conn.can('CERTIFICATE_WRITE');
  const body = h('div', { class: 'deploy-body' }, h('p', { class: 'empty' }, 'Loading…'));
  const add = write
    ? h('button', { type: 'button', class: 'button secondary small', onclick: () => void targetForm(conn, certificate).catch((error: unknown) => inform('Cannot open the form', describe(error))) }, 'Add')
    : null;
  const el = h('section', { class: 'deploy-targets', 'aria-labelledby': 'deploy-targets-title' }, h('header', { class: 'card-header' }, h('h3', { id: 'deploy-targets-title' }, 'Deploy targets'), add), body);
  let labels: Record<string, string> = {};
  const render = (targets: DeployTarget[]) => {
    if (targets.length === 0) {
      body.replaceChildren(h('p', { class: 'empty' }, 'None yet. A deploy target copies this certificate somewhere after every issue and renewal.'));
      return;
    }
    const cell = (label: string, ...children: Child[]) => h('td', { 'data-label': label }, ...children);
    body.replaceChildren(
      h(
        'table',
        null,
        h('thead', null, h('tr', null, ['Name', 'Kind', 'State', 'Last serial', 'When', 'Last error'].map((title) => h('th', { scope: 'col' }, title)), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
        h(
          'tbody',
          null,
          targets.map((target) =>
            h(
              'tr',
              { 'data-name': target.name, 'data-id': target.id },
              cell('Name', target.name),
              cell('Kind', labels[target.kind] ?? target.kind),
              cell('State', h('span', { class: `pill ${STATE_TONE[target.state]}` }, STATE_TEXT[target.state])),
              cell('Last serial', target.last_serial ?? '—'),
              cell('When', target.last_deployed_at ? dateTime(target.last_deployed_at) : '—'),
              cell(
                'Last error',
                target.last_error
                  ? [target.last_error, target.next_attempt_at && target.enabled ? h('div', { class: 'second' }, `Next try ${dateTime(target.next_attempt_at)}`) : null]
                  : '—',
              ),
              h(
                'td',
                { class: 'actions' },
                write
                  ? [
                      iconButton('run', `Run ${target.name} now`, () => runNow(conn, target)),
                      iconButton('edit', `Edit ${target.name}`, () => void targetForm(conn, certificate, target).catch((error: unknown) => inform('Cannot open the form', describe(error)))),
                      iconButton('delete', `Delete ${target.name}`, () => void deleteTarget(conn, target)),
                    ]
                  : null,
              ),
            ),
          ),
        ),
      ),
    );
  };
  let ticket = 0;
  const reload = async () => {
    const mine = ++ticket;
    try {
      const targets = await conn.call<DeployTarget[]>(`${NAMESPACE}.query`, [['certificate', '=', certificate.id]], { order_by: ['id'] });
      if (mine === ticket) render(targets);
    } catch (error) {
      if (mine === ticket) body.replaceChildren(h('p', { class: 'empty' }, `Cannot retrieve the deploy targets: ${describe(error)}`));
    }
  };
  conn.call<Record<string, string>>(`${NAMESPACE}.kind_choices`).then(
    (choices) => {
      labels = choices;
      void reload();
    },
    () => void reload(),
  );
  const stop = listen(conn, () => void reload());
  return { el, stop };
}
