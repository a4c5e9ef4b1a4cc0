/**
 * The audit log panel: entries newest first, a page at a time (`audit.query` with limit/offset),
 * filtered by user, method, certificate, time and result; each entry's details as JSON; Export
 * (`audit.export`, then `core.download` of `audit.download_report`) and Verify (`audit.verify`).
 */
import type { Connection } from './connection.js';
import { button, modal, panel, toast } from './dialogs.js';
import { fill, h, saveBlob } from './dom.js';
import { describe } from './errors.js';
import { input, select, type Field } from './fields.js';
import { dateTime } from './format.js';
import type { Store } from './store.js';

/** Entries per page. */
const PAGE = 25;

interface AuditEntry {
  audit_id: string;
  /** The client library turns the wire's `{"$date": ms}` into a Date. */
  timestamp: Date | { $date: number } | string;
  address: string;
  username: string;
  event: string;
  event_data: Record<string, unknown> & { method?: string };
  service_data: Record<string, unknown>;
  success: boolean;
}

interface VerifyResult {
  valid: boolean;
  entries: number;
  first_invalid: { id: number; audit_id: string } | null;
  reason: string | null;
}

type Filter = unknown[];

const when = (value: AuditEntry['timestamp']) => dateTime(value instanceof Date || typeof value === 'string' ? value : value.$date);

/** An ISO timestamp from a `datetime-local` value (the browser's time zone), or null when empty or invalid. */
function isoTime(local: string): string | null {
  if (!local) return null;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/**
 * Entries about one certificate or CA. Calls name an entry by id as their first parameter
 * (update, delete, export, renew), by name in a create or import, or as the CSR a CA signs; the
 * method's namespace tells a certificate id from a CA id. `target` is a name or an id; a name of
 * an entry that still exists also matches the calls that gave its id.
 */
export function certificateFilter(target: string, known: ReadonlyArray<{ id: number; name: string; kind: 'certificate' | 'certificateauthority' }>): Filter[] {
  const text = target.trim();
  const branches: Filter[][] = [];
  const byId = (kind: string, id: number) => {
    branches.push([['event_data.method', '^', `${kind}.`], ['event_data.params.0', '=', id]]);
    if (kind === 'certificate') branches.push([['event_data.method', '=', 'certificateauthority.ca_sign_csr'], ['event_data.params.0.csr_cert_id', '=', id]]);
    else branches.push([['event_data.method', '=', 'certificateauthority.ca_sign_csr'], ['event_data.params.0.ca_id', '=', id]]);
  };
  if (/^\d+$/.test(text)) {
    byId('certificate', Number(text));
    byId('certificateauthority', Number(text));
  } else {
    for (const entry of known.filter((candidate) => candidate.name === text)) byId(entry.kind, entry.id);
  }
  // Created or imported (and named in a signing) under that name.
  branches.push([['event_data.method', '^', 'certificate'], ['event_data.params.0.name', '=', text]]);
  return [['OR', branches]];
}

/** Pretty JSON for an entry's details. */
const json = (value: unknown) => h('pre', { class: 'json mono' }, JSON.stringify(value, null, 2));

function showEntry(entry: AuditEntry): void {
  const surface = modal(entry.event_data.method ?? entry.event, { subtitle: `${when(entry.timestamp)} · ${entry.username || '—'} · ${entry.address}` });
  surface.dialog.classList.add('wide');
  surface.body.append(
    h(
      'dl',
      { class: 'details' },
      h('dt', null, 'Audit ID'),
      h('dd', { class: 'mono' }, entry.audit_id),
      h('dt', null, 'Event'),
      h('dd', null, entry.event),
      h('dt', null, 'Result'),
      h('dd', null, entry.success ? 'Succeeded' : 'Failed'),
    ),
    h('section', { class: 'audit-json', 'aria-label': 'Event data' }, h('h3', null, 'Event data'), json(entry.event_data)),
    h('section', { class: 'audit-json', 'aria-label': 'Service data' }, h('h3', null, 'Service data'), json(entry.service_data)),
  );
  surface.footer.append(button('Close', () => surface.close(), 'primary'));
}

export function auditPanel(conn: Connection, store: Store): void {
  const surface = panel('Audit log', { wide: true, subtitle: 'Logins and every call that changes state or reveals a secret.' });
  surface.dialog.classList.add('audit-panel');
  const user = input({ path: 'username', label: 'User' });
  const method = input({ path: 'method', label: 'Method', placeholder: 'certificate.create', hint: 'The start of a method name: "certificate" finds them all.' });
  const certificate = input({ path: 'certificate', label: 'Certificate', placeholder: 'Name or id' });
  const from = input({ path: 'from', label: 'From', type: 'datetime-local' });
  const to = input({ path: 'to', label: 'To', type: 'datetime-local' });
  const result = select({ path: 'success', label: 'Result', options: [['true', 'Succeeded'], ['false', 'Failed']], placeholder: 'Any' });
  const fields: Field<string>[] = [user, method, certificate, from, to, result];

  // Suggest the certificates and CAs the page knows.
  const known = [
    ...store.certificates.map((entry) => ({ id: entry.id, name: entry.name, kind: 'certificate' as const })),
    ...store.authorities.map((entry) => ({ id: entry.id, name: entry.name, kind: 'certificateauthority' as const })),
  ];
  const names = h('datalist', { id: 'audit-certificate-names' }, known.map((entry) => h('option', { value: entry.name })));
  certificate.el.querySelector('input')!.setAttribute('list', names.id);

  const filters = (): Filter[] => {
    const list: Filter[] = [];
    if (user.value()) list.push(['username', '=', user.value()]);
    if (method.value()) list.push(['event_data.method', '^', method.value()]);
    if (certificate.value()) list.push(...certificateFilter(certificate.value(), known));
    const start = isoTime(from.value());
    const end = isoTime(to.value());
    if (start) list.push(['timestamp.$date', '>=', start]);
    if (end) list.push(['timestamp.$date', '<=', end]);
    if (result.value()) list.push(['success', '=', result.value() === 'true']);
    return list;
  };

  let offset = 0;
  let total = 0;
  let generation = 0;
  const status = h('p', { class: 'hint audit-status', role: 'status', 'aria-live': 'polite' });
  const table = h('div', { class: 'audit-table' });
  const previous = h('button', { type: 'button', class: 'button secondary small', onclick: () => void page(offset - PAGE) }, 'Previous');
  const next = h('button', { type: 'button', class: 'button secondary small', onclick: () => void page(offset + PAGE) }, 'Next');
  const verifyResult = h('p', { class: 'verify-result', role: 'status', 'aria-live': 'polite' });

  const draw = (entries: AuditEntry[]) => {
    if (entries.length === 0) {
      fill(table, h('p', { class: 'empty' }, 'No entries match.'));
    } else {
      fill(
        table,
        h(
          'table',
          null,
          h('thead', null, h('tr', null, ['Time', 'User', 'Address', 'Event', 'Method', 'Result'].map((title) => h('th', { scope: 'col' }, title)), h('th', { scope: 'col', class: 'actions-col' }, h('span', { class: 'visually-hidden' }, 'Details')))),
          h(
            'tbody',
            null,
            entries.map((entry) =>
              h(
                'tr',
                { 'data-audit-id': entry.audit_id, class: entry.success ? null : 'failed' },
                h('td', { 'data-label': 'Time' }, when(entry.timestamp)),
                h('td', { 'data-label': 'User' }, entry.username || '—'),
                h('td', { 'data-label': 'Address' }, entry.address),
                h('td', { 'data-label': 'Event' }, entry.event),
                h('td', { 'data-label': 'Method' }, entry.event_data.method ?? '—'),
                h('td', { 'data-label': 'Result' }, h('span', { class: `pill ${entry.success ? 'ok' : 'bad'}` }, entry.success ? 'Succeeded' : 'Failed')),
                h('td', { class: 'actions' }, h('button', { type: 'button', class: 'button secondary small', 'aria-label': `Details of ${entry.event_data.method ?? entry.event} at ${when(entry.timestamp)}`, onclick: () => showEntry(entry) }, 'Details')),
              ),
            ),
          ),
        ),
      );
    }
    status.textContent = total === 0 ? 'No entries.' : `Entries ${offset + 1}–${offset + entries.length} of ${total}, newest first.`;
    previous.disabled = offset === 0;
    next.disabled = offset + entries.length >= total;
  };

  async function page(start: number): Promise<void> {
    const mine = ++generation;
    const query = (options: Record<string, unknown>) => conn.call('audit.query', { services: ['MIDDLEWARE'], 'query-filters': filters(), 'query-options': options });
    status.textContent = 'Loading…';
    try {
      const [count, entries] = await Promise.all([
        query({ count: true }) as Promise<number>,
        query({ order_by: ['-timestamp'], offset: Math.max(0, start), limit: PAGE }) as Promise<AuditEntry[]>,
      ]);
      if (mine !== generation) return; // a newer search replaced this one
      total = count;
      offset = Math.max(0, start);
      draw(entries);
    } catch (error) {
      if (mine !== generation) return;
      fill(table, h('div', { class: 'alert error', role: 'alert' }, `Cannot read the audit log: ${describe(error)}`));
      status.textContent = '';
    }
  }

  const format = select({ path: 'export_format', label: 'Export format', options: [['CSV', 'CSV'], ['JSON', 'JSON']], value: 'CSV' });
  const exportButton = h('button', { type: 'button', class: 'button secondary', onclick: () => void exportReport() }, 'Export');
  async function exportReport(): Promise<void> {
    exportButton.disabled = true;
    try {
      const path = await conn.callJob<string>('audit.export', [{ services: ['MIDDLEWARE'], 'query-filters': filters(), 'query-options': { order_by: ['-timestamp'] }, export_format: format.value() }]);
      const name = path.split('/').pop()!;
      // The link serves the report once, when the download job has written it.
      const [, url] = await conn.call<[number, string]>('core.download', 'audit.download_report', [{ report_name: name }], name);
      const response = await fetch(url);
      if (!response.ok) throw new Error(`The download failed (HTTP ${response.status}: ${(await response.text()).slice(0, 200)}).`);
      saveBlob(await response.blob(), name);
      toast('Download started.');
    } catch (error) {
      toast(`Cannot export: ${describe(error)}`);
    } finally {
      exportButton.disabled = false;
    }
  }

  const verifyButton = h('button', { type: 'button', class: 'button secondary', onclick: () => void verify() }, 'Verify');
  async function verify(): Promise<void> {
    verifyButton.disabled = true;
    verifyResult.className = 'verify-result';
    verifyResult.textContent = 'Checking…';
    try {
      const outcome = await conn.call<VerifyResult>('audit.verify');
      verifyResult.className = `verify-result ${outcome.valid ? 'ok' : 'bad'}`;
      verifyResult.textContent = outcome.valid
        ? `Chain intact: ${outcome.entries} entries`
        : `Broken at entry ${outcome.first_invalid ? `${outcome.first_invalid.audit_id} (#${outcome.first_invalid.id})` : 'unknown'}: ${outcome.reason ?? 'no reason given'}`;
    } catch (error) {
      verifyResult.className = 'verify-result bad';
      verifyResult.textContent = `Cannot verify: ${describe(error)}`;
    } finally {
      verifyButton.disabled = false;
    }
  }

  const search = h('button', { type: 'submit', class: 'button primary' }, 'Search');
  const clear = h('button', { type: 'button', class: 'button secondary', onclick: () => (fields.forEach((field) => field.set('')), void page(0)) }, 'Clear');
  const form = h(
    'form',
    { class: 'audit-filters', 'aria-label': 'Audit filters', noValidate: true },
    fields.map((field) => field.el),
    names,
    h('div', { class: 'audit-filter-buttons' }, clear, search),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void page(0);
  });
  surface.body.append(
    form,
    h('div', { class: 'audit-tools' }, format.el, exportButton, verifyButton, verifyResult),
    status,
    table,
    h('div', { class: 'audit-pager' }, previous, next),
  );
  surface.footer.append(h('span', { class: 'spacer' }), button('Close', () => surface.close(), 'primary'));
  user.focus();
  void page(0);
}
