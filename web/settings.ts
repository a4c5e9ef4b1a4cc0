/**
 * GUI Settings: the certificate the daemon's own HTTPS presents, its port, the redirect and the
 * TLS versions (TrueNAS's System > General > GUI form), through `system.general`. Fields the
 * daemon's environment sets are shown but cannot be changed here.
 */
import type { Connection } from './connection.js';
import { checkbox, checks, input, options, select, type Field } from './fields.js';
import { formPanel } from './forms.js';

interface GeneralSettings {
  ui_certificate: { id: number; name: string } | null;
  ui_httpsport: number | null;
  ui_httpsredirect: boolean;
  ui_httpsprotocols: string[];
  ui_port: number;
  set_by_environment: Record<string, string>;
}

/** Greys a field out, saying which environment variable sets it; returns whether it did. */
function fixedBy(field: Field<unknown>, variable: string | undefined): boolean {
  if (!variable) return false;
  for (const control of field.el.querySelectorAll<HTMLInputElement | HTMLSelectElement>('input, select')) control.disabled = true;
  const note = document.createElement('p');
  note.className = 'hint';
  note.textContent = `Set by the ${variable} environment variable.`;
  field.el.append(note);
  return true;
}

export async function guiSettings(conn: Connection): Promise<void> {
  const [current, certificates, protocols] = await Promise.all([
    conn.call<GeneralSettings>('system.general.config'),
    conn.call<Record<string, string>>('system.general.ui_certificate_choices'),
    conn.call<Record<string, string>>('system.general.ui_httpsprotocols_choices'),
  ]);
  const fromEnvironment = current.set_by_environment;
  const certificate = select({
    path: 'ui_certificate',
    label: 'GUI SSL Certificate',
    required: true,
    options: options(certificates),
    value: String(current.ui_certificate?.id ?? ''),
    hint: 'Presented to new HTTPS connections as soon as you save; open ones keep theirs.',
  });
  const httpPort = input({ path: 'ui_port', label: 'Web Interface HTTP Port', type: 'number', value: String(current.ui_port) });
  const httpsPort = input({
    path: 'ui_httpsport',
    label: 'Web Interface HTTPS Port',
    type: 'number',
    min: 1,
    max: 65535,
    value: current.ui_httpsport === null ? '' : String(current.ui_httpsport),
    hint: 'Leave empty to serve plain HTTP only.',
  });
  const redirect = checkbox({
    path: 'ui_httpsredirect',
    label: 'Web Interface HTTP -> HTTPS Redirect',
    value: current.ui_httpsredirect,
    hint: 'Plain HTTP then only redirects to HTTPS; CRLs and CA certificates stay on HTTP.',
  });
  const versions = checks({ path: 'ui_httpsprotocols', label: 'HTTPS Protocols', required: true, options: options(protocols), value: current.ui_httpsprotocols });
  fixedBy(httpPort, fromEnvironment.ui_port ?? 'PORT');
  const portFixed = fixedBy(httpsPort, fromEnvironment.ui_httpsport);
  const redirectFixed = fixedBy(redirect, fromEnvironment.ui_httpsredirect);
  const fields = [certificate, httpPort, httpsPort, redirect, versions];
  formPanel({
    title: 'GUI Settings',
    subtitle: "The daemon's own HTTPS",
    fields,
    content: fields.map((field) => field.el),
    submitLabel: 'Save',
    done: 'Settings saved.',
    submit: () =>
      conn.call('system.general.update', {
        ui_certificate: Number(certificate.value()),
        ...(portFixed ? {} : { ui_httpsport: httpsPort.value() === '' ? null : Number(httpsPort.value()) }),
        ...(redirectFixed ? {} : { ui_httpsredirect: redirect.value() }),
        ui_httpsprotocols: versions.value(),
      }),
  });
}
