/** ACME: DNS authenticator forms generated from the providers' schemas, and a certificate from a CSR. */
import { loadAuthenticatorSchemas, loadChoices, type AuthenticatorSchema, type SchemaProperty } from './choices.js';
import type { Connection } from './connection.js';
import { h } from './dom.js';
import { button, runJob } from './dialogs.js';
import { describe } from './errors.js';
import { checkbox, errorSlot, input, isShown, NAME_RULE, options, select, showWhen, type Field, type Option } from './fields.js';
import { humanize, type CertEntry } from './format.js';
import { busy, formPanel } from './forms.js';
import type { Authenticator, Store } from './store.js';

/** Schemas do not mark secrets; these names hold them (tokens, keys, passwords). */
const SECRET = /secret|token|password|api_key|hmac|apikey/i;

/** The non-null member of `anyOf: [X, null]`, where optional values are declared that way. */
export function effective(property: SchemaProperty): SchemaProperty {
  const member = property.anyOf?.find((option) => option.type !== 'null');
  return member ? { ...member, ...property, anyOf: undefined, type: member.type, enum: member.enum } : property;
}

export const isNumeric = (property: SchemaProperty) => property.type === 'integer' || property.type === 'number';

/**
 * One control for one (effective) schema property: checkbox, number, select for enums, text
 * otherwise; `path` is the attribute server errors name (the property's name by default).
 */
export function attributeField(name: string, property: SchemaProperty, required: boolean, value: unknown, path = name): Field<unknown> {
  // Labels from the name, as TrueNAS's dynamic form does; the description explains it unless it only repeats it.
  const label = humanize(name);
  const description = property.description ?? '';
  const spec = { path, label, hint: description.toLowerCase() === label.toLowerCase() ? undefined : description || undefined, required };
  const initial = value ?? property.default;
  const text = initial === undefined || initial === null ? undefined : String(initial);
  if (property.type === 'boolean') return checkbox({ ...spec, value: initial === true }) as Field<unknown>;
  if (property.enum) {
    return select({ ...spec, options: property.enum.map((v): Option => [String(v), String(v)]), value: text, placeholder: required ? undefined : '—' }) as Field<unknown>;
  }
  return input({
    ...spec,
    type: isNumeric(property) ? 'number' : SECRET.test(name) || property.writeOnly ? 'password' : 'text',
    min: property.minimum,
    max: property.maximum,
    value: text,
  }) as Field<unknown>;
}

/** A provider's fields, in the schema's order, without the `authenticator` tag. */
function providerFields(schema: AuthenticatorSchema, values: Record<string, unknown>): Array<{ name: string; field: Field<unknown>; numeric: boolean }> {
  const { properties, required = [], _attrs_order_: order = Object.keys(properties) } = schema.schema;
  return order
    .filter((name) => name !== 'authenticator' && properties[name])
    .map((name) => {
      const raw = properties[name]!;
      const property = effective(raw);
      const isRequired = (raw._required_ ?? required.includes(name)) && raw.default === undefined;
      return { name, field: attributeField(name, property, isRequired, values[name]), numeric: isNumeric(property) };
    });
}

/** Add or edit a DNS authenticator (`acme.dns.authenticator.create` / `update`). */
export async function authenticatorForm(conn: Connection, entry?: Authenticator): Promise<void> {
  const schemas = await loadAuthenticatorSchemas(conn);
  const name = input({ path: 'name', label: 'Name', required: true, value: entry?.name, hint: 'Internal identifier for the authenticator.' });
  const provider = select({
    path: 'attributes.authenticator',
    label: 'Authenticator',
    options: schemas.map((s): Option => [s.key, s.schema.description ?? s.key]),
    value: entry?.attributes.authenticator ?? schemas[0]?.key,
    required: true,
    hint: entry ? 'The provider of an authenticator cannot change.' : 'Your DNS provider; its settings follow.',
  });
  if (entry) provider.el.querySelector('select')!.disabled = true;
  const sections = schemas.map((schema) => {
    const fields = providerFields(schema, entry?.attributes.authenticator === schema.key ? entry.attributes : {});
    const el = h('div', { class: 'provider-fields' }, fields.map(({ field }) => field.el));
    showWhen(el, () => provider.value() === schema.key, provider);
    return { key: schema.key, fields, el };
  });
  const mode = select({
    path: 'propagation.mode',
    label: 'Wait for propagation',
    options: [['check', 'Check the zone’s name servers'], ['delay', 'Wait a fixed delay'], ['off', 'Do not wait']],
    value: entry?.propagation?.mode,
    placeholder: 'Default',
  });
  const timeout = input({ path: 'propagation.timeout', label: 'Check timeout (seconds)', type: 'number', min: 1, max: 3600, value: entry ? String(entry.propagation?.timeout ?? '') : '' });
  const delay = input({ path: 'propagation.delay', label: 'Delay (seconds)', type: 'number', min: 0, max: 3600, value: entry ? String(entry.propagation?.delay ?? '') : '' });
  showWhen(timeout, () => mode.value() !== 'delay' && mode.value() !== 'off', mode);
  showWhen(delay, () => mode.value() === 'delay', mode);
  const current = () => sections.find((section) => section.key === provider.value())!;
  const attributes = () =>
    Object.fromEntries([
      ['authenticator', provider.value()],
      ...current().fields.flatMap(({ name, field, numeric }) => {
        const value = field.value();
        if (value === '' || value === null) return [];
        return [[name, numeric ? Number(value) : value]];
      }),
    ]);
  const propagation = () => {
    const chosen = Object.fromEntries(
      ([['mode', mode], ['timeout', timeout], ['delay', delay]] as const)
        .filter(([, field]) => isShown(field) && field.value() !== '')
        .map(([key, field]) => [key, field === mode ? field.value() : Number(field.value())]),
    );
    return Object.keys(chosen).length ? { propagation: chosen } : {};
  };
  const verdict = h('p', { class: 'verify-result', role: 'status' });
  const verify = button('Verify credentials', () =>
    void busy(verify, async () => {
      verdict.className = 'verify-result';
      verdict.textContent = 'Checking with the provider…';
      try {
        const result = await conn.call<{ valid: boolean; error: string | null }>('acme.dns.authenticator.verify', { attributes: attributes() });
        verdict.classList.add(result.valid ? 'ok' : 'bad');
        verdict.textContent = result.valid ? 'The provider accepted these credentials.' : `The provider refused: ${result.error ?? 'no reason given'}`;
      } catch (error) {
        verdict.classList.add('bad');
        verdict.textContent = describe(error);
      }
    }),
  );
  formPanel({
    title: entry ? 'Edit DNS Authenticator' : 'Add DNS Authenticator',
    fields: [name, provider, ...sections.flatMap((section) => section.fields.map(({ field }) => field)), mode, timeout, delay],
    content: [
      name.el,
      provider.el,
      sections.map((section) => section.el),
      h('details', { class: 'advanced' }, h('summary', null, 'Propagation'), h('p', { class: 'hint' }, 'How issuance waits for the challenge record to show before asking the CA to check it.'), mode.el, timeout.el, delay.el),
      verdict,
    ],
    extraButtons: verify,
    submitLabel: 'Save',
    done: entry ? 'DNS authenticator saved.' : 'DNS authenticator added.',
    submit: () =>
      entry
        ? conn.call('acme.dns.authenticator.update', entry.id, { name: name.value(), attributes: attributes(), ...propagation() })
        : conn.call('acme.dns.authenticator.create', { name: name.value(), attributes: attributes(), ...propagation() }),
  });
}

const CUSTOM = 'custom';

/** `acme.registration.terms_of_service`: what an ACME directory's meta says. */
interface DirectoryMeta {
  terms_of_service: string | null;
  website: string | null;
  external_account_required: boolean;
}

/** Only these open as links; anything else a directory names (javascript:, …) is shown as text. */
const linkable = (url: string) => /^(https?:\/\/|data:text\/plain[,;])/i.test(url);

/** How long typing in the custom directory field pauses before the directory is read. */
const TYPING_PAUSE_MS = 500;

/**
 * The terms of service of the chosen directory, read from its meta whenever the directory changes:
 * a "Read the terms of service" link beside the checkbox, and a note below it when the CA needs
 * External Account Binding or the directory cannot be read. It never blocks the form.
 */
function termsOfService(conn: Connection, tos: Field<boolean>, directoryUri: () => string) {
  const link = h('a', { class: 'tos-link', target: '_blank', rel: 'noopener noreferrer', hidden: true }, 'Read the terms of service');
  const note = h('p', { class: 'tos-note', role: 'status' });
  const row = tos.el.querySelector('.check-row')!;
  row.append(link);
  row.after(note);
  let asked = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const show = (text: string, tone: '' | 'bad' = '') => {
    note.className = `tos-note${tone ? ` ${tone}` : ''}`;
    note.textContent = text;
  };
  const read = async () => {
    clearTimeout(timer);
    const ticket = ++asked;
    const uri = directoryUri();
    link.hidden = true;
    link.removeAttribute('href');
    show('');
    // The method needs ACME_READ; without it the form works as before.
    if (!uri || !conn.can('ACME_READ', 'ACME_WRITE')) return;
    show('Reading the terms of service…');
    try {
      const meta = await conn.call<DirectoryMeta>('acme.registration.terms_of_service', { acme_directory_uri: uri });
      if (ticket !== asked) return;
      const terms = meta.terms_of_service;
      if (terms && linkable(terms)) {
        link.href = terms;
        link.hidden = false;
      }
      show(
        [
          terms ? (linkable(terms) ? '' : `Terms of service: ${terms}`) : 'This ACME server names no terms of service.',
          meta.external_account_required ? 'This ACME server requires External Account Binding: new accounts need a key ID and HMAC key from the CA.' : '',
        ]
          .filter(Boolean)
          .join(' '),
      );
    } catch (error) {
      if (ticket === asked) show(`Cannot read the terms of service: ${describe(error)}`, 'bad');
    }
  };
  return {
    now: () => void read(),
    soon: () => {
      clearTimeout(timer);
      timer = setTimeout(() => void read(), TYPING_PAUSE_MS);
    },
    stop: () => {
      clearTimeout(timer);
      asked++;
    },
  };
}

/**
 * Create ACME Certificate from a CSR: terms of service, renew days, a directory (or a custom
 * one), and an authenticator for every name of the CSR.
 */
export async function acmeCertificateForm(conn: Connection, store: Store, csr: CertEntry): Promise<void> {
  const [choices, domains] = await Promise.all([loadChoices(conn), conn.call<string[]>('certificate.get_domain_names', csr.id)]);
  const name = input({ path: 'name', label: 'Identifier', required: true, validate: NAME_RULE, hint: 'Name of the new certificate.' });
  const tos = checkbox({ path: 'tos', label: 'I accept the ACME server’s Terms of Service', mustBeChecked: 'Accept the terms of service to continue.' });
  const renewDays = input({ path: 'renew_days', label: 'Renew Certificate Days', type: 'number', min: 1, max: 30, value: '10', required: true, hint: 'Renew this many days before it expires.' });
  const directory = select({
    path: 'acme_directory_uri',
    label: 'ACME Server Directory URI',
    options: [...options(choices.acme_server), [CUSTOM, 'Custom directory URI…']],
    placeholder: 'Choose a directory',
    required: true,
  });
  const custom = input({
    path: 'acme_directory_uri',
    label: 'Custom ACME Server Directory URI',
    type: 'url',
    required: true,
    placeholder: 'https://acme.example.com/directory',
    validate: (value) => (/^https?:\/\/\S+$/.test(value) ? null : 'Enter the directory URL, starting with https://.'),
  });
  showWhen(custom, () => directory.value() === CUSTOM, directory);
  const terms = termsOfService(conn, tos, () => {
    if (directory.value() !== CUSTOM) return directory.value();
    return custom.value() !== '' && custom.check() === null ? custom.value() : '';
  });
  directory.onChange(terms.now);
  custom.onChange(terms.soon);

  // One choice per name: "nas.example.com" and "DNS:nas.example.com" are the same name.
  const names = [...new Set(domains.map((domain) => domain.replace(/^DNS:/, '')))];
  const authenticatorOptions = () => store.authenticators.map((a): Option => [String(a.id), a.name]);
  const selects = names.map((domain) => ({
    domain,
    field: select({ path: `dns_mapping.${domain}`, label: domain, options: authenticatorOptions(), placeholder: 'Choose an authenticator', required: true }),
  }));
  const none = h('p', { class: 'hint' }, 'No DNS authenticator yet. ', h('button', { type: 'button', class: 'link', onclick: () => void authenticatorForm(conn) }, 'Add one'), ' and choose it here.');
  const domainBox = h('fieldset', { class: 'group domains' }, h('legend', null, 'Domains'), h('p', { class: 'hint' }, 'The DNS authenticator that answers the challenge for each name of the CSR.'), none, selects.map(({ field }) => field.el));
  const mapping = errorSlot('dns_mapping', 'Domains', domainBox);
  // The authenticator list can change while the form is open (one added with "Add one"); a lone
  // authenticator is chosen for every name still without one.
  const refresh = () => {
    const all = store.authenticators;
    none.hidden = all.length > 0;
    for (const { field } of selects) {
      field.setOptions(authenticatorOptions());
      if (all.length === 1 && !field.value()) field.set(String(all[0]!.id));
    }
  };
  refresh();
  const stop = store.onChange((namespace) => namespace === 'acme.dns.authenticator' && refresh());
  // The custom URI first: when shown, it takes the errors about acme_directory_uri.
  const fields = [name, tos, renewDays, custom, directory, ...selects.map(({ field }) => field), mapping];
  const surface = formPanel({
    title: 'Create ACME Certificate',
    subtitle: `From CSR ${csr.name}`,
    fields,
    content: [name.el, tos.el, renewDays.el, directory.el, custom.el, domainBox],
    submitLabel: 'Save',
    done: 'ACME Certificate Created.',
    submit: () => {
      const ids = new Map(selects.map(({ domain, field }) => [domain, Number(field.value())]));
      const payload = {
        name: name.value(),
        create_type: 'CERTIFICATE_CREATE_ACME',
        csr_id: csr.id,
        tos: tos.value(),
        renew_days: Number(renewDays.value()),
        acme_directory_uri: directory.value() === CUSTOM ? custom.value() : directory.value(),
        // Keyed by the names exactly as the server listed them.
        dns_mapping: Object.fromEntries(domains.map((domain) => [domain, ids.get(domain.replace(/^DNS:/, ''))])),
      };
      return runJob(conn, 'Creating ACME Certificate', 'certificate.create', [payload]);
    },
  });
  void surface.closed.then(() => (stop(), terms.stop()));
}
