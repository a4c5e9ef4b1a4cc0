/**
 * Alert channels (`alertservice`): where alerts are sent. A list kept current by the
 * `alertservice.query` event, a form per kind of channel with a Test button, Delete naming the
 * channel, and the SMTP settings Mail channels send through (`mail.config` / `mail.update`).
 * Secrets are never filled in: left empty on edit they are sent back as "********", which the API
 * reads as "keep the stored one".
 */
import type { Connection } from './connection.js';
import { button, confirm, modal, toast, type Surface } from './dialogs.js';
import { fill, h } from './dom.js';
import { describe, placeProblems, validationProblems } from './errors.js';
import { checkbox, checkFields, EMAIL_RULE, input, select, showWhen, type Field, type Option } from './fields.js';
import { busy, formPanel } from './forms.js';

interface Channel {
  id: number;
  name: string;
  type: string;
  type__title: string;
  attributes: Record<string, unknown>;
  level: string;
  enabled: boolean;
  last_error: string | null;
}

interface MailConfig {
  fromemail: string;
  fromname: string;
  outgoingserver: string;
  port: number;
  security: string;
  smtp: boolean;
  user: string | null;
  pass: string | null;
}

const HIDDEN = '********';
const LEVELS = ['INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL', 'ALERT', 'EMERGENCY'];
const levelLabel = (level: string) => level.charAt(0) + level.slice(1).toLowerCase();

/** One attribute of a kind of channel. */
interface Attribute {
  name: string;
  label: string;
  hint?: string;
  secret?: boolean;
  required?: boolean;
}

/** The kinds and their attributes, as the API's alertservice.create takes them (README "Alert channels"). */
const KINDS: ReadonlyArray<{ type: string; title: string; attributes: readonly Attribute[] }> = [
  { type: 'Mail', title: 'Email', attributes: [{ name: 'email', label: 'Email Address', required: true, hint: 'Several addresses separated by commas. Sent through the SMTP settings.' }] },
  { type: 'Slack', title: 'Slack', attributes: [{ name: 'url', label: 'Webhook URL', secret: true, required: true, hint: 'https://hooks.slack.com/services/…' }] },
  {
    type: 'Mattermost',
    title: 'Mattermost',
    attributes: [
      { name: 'url', label: 'Webhook URL', secret: true, required: true, hint: 'https://…/hooks/<key>' },
      { name: 'username', label: 'Username', required: true, hint: 'The name the posts appear under.' },
      { name: 'channel', label: 'Channel', hint: "The webhook's own channel when empty." },
    ],
  },
  {
    type: 'Webhook',
    title: 'Webhook',
    attributes: [
      { name: 'url', label: 'URL', required: true, hint: 'Where the JSON is POSTed.' },
      { name: 'secret', label: 'Signing Secret', secret: true, required: true, hint: 'At least 16 characters; the key of the HMAC-SHA256 signature in X-Certmid-Signature.' },
    ],
  },
  {
    type: 'Ntfy',
    title: 'ntfy',
    attributes: [
      { name: 'url', label: 'Topic URL', required: true, hint: 'e.g. https://ntfy.sh/my-alerts' },
      { name: 'token', label: 'Access Token', secret: true, hint: 'tk_…; or a username and password below.' },
      { name: 'username', label: 'Username' },
      { name: 'password', label: 'Password', secret: true },
    ],
  },
  {
    type: 'Gotify',
    title: 'Gotify',
    attributes: [
      { name: 'url', label: 'Server URL', required: true, hint: 'e.g. https://gotify.example.com' },
      { name: 'token', label: 'Application Token', secret: true, required: true },
    ],
  },
];

/** The Channels button for the top bar, or null without ALERT_READ. */
export function channelsButton(conn: Connection): HTMLElement | null {
  if (!conn.can('ALERT_READ')) return null;
  return h('button', { type: 'button', class: 'button ghost small', 'aria-haspopup': 'dialog', onclick: () => channelsDialog(conn) }, 'Channels');
}

function channelsDialog(conn: Connection): void {
  const canWrite = conn.can('ALERT_WRITE');
  const surface: Surface = modal('Alert Channels', { subtitle: 'Where alerts are sent: each channel gets those at or above its level.' });
  surface.dialog.classList.add('channels-dialog');
  const list = h('div', { class: 'channels-body' });
  surface.body.append(list);
  let channels: Channel[] = [];
  let loadError: string | null = null;

  const test = async (channel: Channel, control: HTMLButtonElement) => {
    await busy(control, async () => {
      try {
        await conn.call('alertservice.test', { id: channel.id, name: channel.name, type: channel.type, attributes: channel.attributes, level: channel.level, enabled: channel.enabled });
        toast(`Test alert sent through "${channel.name}".`);
      } catch (error) {
        toast(`Test failed: ${describe(error)}`);
      }
    });
  };

  const remove = async (channel: Channel) => {
    const answer = await confirm({ title: 'Delete Alert Channel', message: `Delete the alert channel "${channel.name}"? Alerts waiting to be sent through it are dropped.`, action: 'Delete', danger: true });
    if (!answer) return;
    try {
      await conn.call('alertservice.delete', channel.id);
      toast(`Alert channel "${channel.name}" deleted.`);
    } catch (error) {
      toast(`Cannot delete "${channel.name}": ${describe(error)}`);
    }
  };

  const row = (channel: Channel) =>
    h(
      'li',
      { class: 'channel-item', 'data-id': channel.id, 'data-name': channel.name },
      h(
        'div',
        { class: 'channel-text' },
        h('p', null, h('strong', null, channel.name), ' ', h('span', { class: 'pill muted' }, channel.type__title || channel.type), ' ', h('span', { class: `pill ${channel.enabled ? 'ok' : 'muted'}` }, channel.enabled ? 'Enabled' : 'Disabled')),
        h('p', { class: 'hint' }, `${levelLabel(channel.level)} and above`),
        channel.last_error ? h('p', { class: 'field-error channel-error' }, `Last send failed: ${channel.last_error}`) : null,
      ),
      canWrite
        ? h(
            'div',
            { class: 'channel-tools' },
            h('button', { type: 'button', class: 'button secondary small', 'aria-label': `Test ${channel.name}`, onclick: (event: Event) => void test(channel, event.currentTarget as HTMLButtonElement) }, 'Test'),
            h('button', { type: 'button', class: 'button secondary small', 'aria-label': `Edit ${channel.name}`, onclick: () => channelForm(conn, channel) }, 'Edit'),
            h('button', { type: 'button', class: 'button danger small', 'aria-label': `Delete ${channel.name}`, onclick: () => void remove(channel) }, 'Delete'),
          )
        : null,
    );

  const draw = () =>
    fill(
      list,
      loadError ? h('div', { class: 'alert error', role: 'alert' }, `Cannot retrieve the channels: ${loadError}`) : null,
      channels.length === 0 && !loadError ? h('p', { class: 'empty' }, 'No alert channels. Alerts show only on this page.') : null,
      channels.length ? h('ul', { class: 'channel-list', 'aria-label': 'Alert channels' }, channels.map(row)) : null,
    );

  const load = async () => {
    try {
      channels = await conn.call<Channel[]>('alertservice.query', [], { order_by: ['name'] });
      loadError = null;
    } catch (error) {
      loadError = describe(error);
    }
    if (surface.dialog.isConnected) draw();
  };

  if (canWrite) {
    surface.footer.append(
      button('SMTP Settings', () => void mailSettings(conn).catch((error: unknown) => toast(`Cannot open the SMTP settings: ${describe(error)}`))),
      h('span', { class: 'spacer' }),
      button('Close', () => surface.close()),
      button('Add', () => channelForm(conn), 'primary'),
    );
  } else surface.footer.append(button('Close', () => surface.close(), 'primary'));
  draw();
  void load();
  // Live while open; the subscription ends with the dialog.
  const subscription = conn.subscribe('alertservice.query', () => void load()).catch(() => () => undefined);
  void surface.closed.then(async () => (await subscription)());
}

/** Add or Edit: name, kind, level, enabled, and the kind's settings. */
function channelForm(conn: Connection, existing?: Channel): void {
  const name = input({ path: 'name', label: 'Name', required: true, value: existing?.name ?? '' });
  const type = select({ path: 'type', label: 'Type', required: true, options: KINDS.map((kind): Option => [kind.type, kind.title]), value: existing?.type ?? 'Mail' });
  const level = select({ path: 'level', label: 'Level', required: true, options: LEVELS.map((value): Option => [value, levelLabel(value)]), value: existing?.level ?? 'WARNING', hint: 'The least severe level sent.' });
  const enabled = checkbox({ path: 'enabled', label: 'Enabled', value: existing?.enabled ?? true });
  const stored = existing?.attributes ?? {};
  const groups = KINDS.map((kind) => {
    const fields = kind.attributes.map((attribute) => {
      const editingSecret = Boolean(attribute.secret && existing && existing.type === kind.type && stored[attribute.name]);
      const field = input({
        path: `attributes.${attribute.name}`,
        label: attribute.label,
        type: attribute.secret ? 'password' : 'text',
        autocomplete: attribute.secret ? 'new-password' : 'off',
        // A saved secret is never sent to the page: empty keeps it.
        required: attribute.required && !editingSecret,
        value: attribute.secret || existing?.type !== kind.type ? '' : String(stored[attribute.name] ?? ''),
        hint: editingSecret ? `Saved; leave empty to keep it.${attribute.hint ? ` ${attribute.hint}` : ''}` : attribute.hint,
      });
      return { attribute, field, editingSecret };
    });
    const box = h('div', { class: 'channel-attributes', 'data-type': kind.type }, fields.map(({ field }) => field.el));
    showWhen(box, () => type.value() === kind.type, type);
    return { kind, fields, box };
  });
  const result = h('div', { class: 'alert', role: 'status', hidden: true });
  const allFields = (): Field<unknown>[] => [name, type, level, enabled, ...groups.flatMap((group) => group.fields.map(({ field }) => field as Field<unknown>))];

  const payload = () => {
    const group = groups.find((candidate) => candidate.kind.type === type.value())!;
    const attributes: Record<string, unknown> = {};
    for (const { attribute, field, editingSecret } of group.fields) attributes[attribute.name] = editingSecret && field.value() === '' ? HIDDEN : field.value();
    return { name: name.value(), type: type.value(), attributes, level: level.value(), enabled: enabled.value() };
  };

  const showResult = (tone: 'ok' | 'error', text: string) => {
    result.className = `alert ${tone === 'ok' ? 'success' : 'error'}`;
    result.textContent = text;
    result.hidden = false;
  };

  const testButton = button('Test', () => {
    void busy(testButton, async () => {
      result.hidden = true;
      for (const field of allFields()) field.error(null);
      if (!checkFields(allFields())) return;
      try {
        await conn.call('alertservice.test', { ...payload(), ...(existing ? { id: existing.id } : {}) });
        showResult('ok', `Test alert sent through "${name.value()}".`);
      } catch (error) {
        const problems = validationProblems(error);
        if (problems) {
          const { placed, rest } = placeProblems(problems, allFields());
          placed[0]?.focus();
          if (rest.length) showResult('error', rest.map(([attribute, message]) => (attribute ? `${attribute}: ${message}` : message)).join(' '));
        } else showResult('error', describe(error));
      }
    });
  });

  formPanel({
    title: existing ? 'Edit Alert Channel' : 'Add Alert Channel',
    subtitle: existing?.name,
    fields: allFields(),
    content: [name.el, type.el, level.el, enabled.el, groups.map((group) => group.box), result],
    submitLabel: 'Save',
    done: existing ? `Alert channel "${existing.name}" saved.` : 'Alert channel added.',
    extraButtons: testButton,
    submit: () => (existing ? conn.call('alertservice.update', existing.id, payload()) : conn.call('alertservice.create', payload())),
  });
}

/** The SMTP server Mail channels send through, with a test message. */
async function mailSettings(conn: Connection): Promise<void> {
  const current = await conn.call<MailConfig>('mail.config');
  const fromemail = input({ path: 'fromemail', label: 'From Email', value: current.fromemail, validate: EMAIL_RULE });
  const fromname = input({ path: 'fromname', label: 'From Name', value: current.fromname });
  const server = input({ path: 'outgoingserver', label: 'Outgoing Mail Server', value: current.outgoingserver });
  const port = input({ path: 'port', label: 'Mail Server Port', type: 'number', min: 1, max: 65535, value: String(current.port) });
  const security = select({ path: 'security', label: 'Security', options: [['PLAIN', 'Plain (No Encryption)'], ['SSL', 'SSL (Implicit TLS)'], ['TLS', 'TLS (STARTTLS)']], value: current.security });
  const smtp = checkbox({ path: 'smtp', label: 'SMTP Authentication', value: current.smtp });
  const user = input({ path: 'user', label: 'Username', value: current.user ?? '', autocomplete: 'off' });
  const pass = input({ path: 'pass', label: 'Password', type: 'password', autocomplete: 'new-password', hint: current.pass ? 'Saved; leave empty to keep it.' : undefined });
  showWhen(user, () => smtp.value(), smtp);
  showWhen(pass, () => smtp.value(), smtp);
  const to = input({ path: 'to', label: 'Send Test E-mail To', validate: EMAIL_RULE, hint: 'Sent with the saved settings: save first.' });
  const result = h('div', { class: 'alert', role: 'status', hidden: true });
  const sendTest = button('Send Test E-mail', () => {
    void busy(sendTest, async () => {
      result.hidden = true;
      if (!to.value()) return to.error('Enter an address to send the test to.');
      if (!checkFields([to])) return;
      try {
        await conn.call('mail.send', { subject: 'Test message', text: 'This is a test message from certmid.', to: [to.value()] });
        result.className = 'alert success';
        result.textContent = `Test e-mail sent to ${to.value()}.`;
      } catch (error) {
        result.className = 'alert error';
        result.textContent = describe(error);
      }
      result.hidden = false;
    });
  });
  const fields = [fromemail, fromname, server, port, security, smtp, user, pass];
  formPanel({
    title: 'SMTP Settings',
    subtitle: 'For Mail alert channels',
    fields,
    content: [fields.map((field) => field.el), h('hr'), to.el, result],
    submitLabel: 'Save',
    done: 'SMTP settings saved.',
    extraButtons: sendTest,
    submit: () =>
      conn.call('mail.update', {
        fromemail: fromemail.value(),
        fromname: fromname.value(),
        outgoingserver: server.value(),
        port: Number(port.value()),
        security: security.value(),
        smtp: smtp.value(),
        ...(smtp.value() ? { user: user.value(), pass: pass.value() === '' && current.pass ? HIDDEN : pass.value() } : {}),
      }),
  });
}
