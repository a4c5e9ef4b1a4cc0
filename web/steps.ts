/**
 * The wizard steps shared by Add Certificate, Add CSR and Add CA (as TrueNAS's wizards have them):
 * Identifier and Type, Certificate Options, Certificate Subject, Extra Constraints, and Import.
 */
import { h } from './dom.js';
import type { Choices, Profile } from './choices.js';
import { pemPreview, TRUSTED_STORE_HINT } from './format.js';
import { sanProblem } from './san.js';
import { stepBody, type Step } from './forms.js';
import { placeProblems, validationProblems } from './errors.js';
import { fileBase64, previewLines, type ImportInput, type ImportPreview } from './import-preview.js';
import {
  checkbox,
  checks,
  chips,
  EMAIL_RULE,
  errorSlot,
  input,
  isShown,
  NAME_RULE,
  optional,
  options,
  select,
  showWhen,
  textarea,
  type Field,
  type Option,
} from './fields.js';

const label = (list: readonly Option[], value: string) => list.find(([v]) => v === value)?.[1] ?? value;

/** Step 1: name, type, profile and the trusted-store flag. */
export function identifierStep(spec: {
  types: readonly Option[];
  imports: readonly string[];
  profiles: Record<string, Profile>;
  /** Whether "Add To Trusted Store" applies to a type; absent: never. */
  trustedStore?: (type: string) => boolean;
  typeHint: string;
  onProfile: (profile: Profile) => void;
}): Step & { type: Field<string> } {
  const name = input({ path: 'name', label: 'Name', required: true, validate: NAME_RULE, hint: 'Descriptive identifier: letters, numbers, _ and -.' });
  const type = select({ path: 'create_type', label: 'Type', options: spec.types, required: true, hint: spec.typeHint });
  const profileOptions = Object.keys(spec.profiles).map((key): Option => [key, key]);
  const profile = select({
    path: 'profile',
    label: 'Profile',
    options: profileOptions,
    placeholder: 'None',
    hint: 'Presets for key and extensions; they fill the next steps, where you can still change them.',
  });
  const trusted = checkbox({ path: 'add_to_trusted_store', label: 'Add To Trusted Store', hint: TRUSTED_STORE_HINT });
  const isImport = () => spec.imports.includes(type.value());
  showWhen(profile, () => !isImport(), type);
  showWhen(trusted, () => spec.trustedStore?.(type.value()) ?? false, type);
  profile.onChange((key) => {
    const chosen = spec.profiles[key];
    if (chosen) spec.onProfile(chosen);
  });
  return {
    title: 'Identifier and Type',
    body: stepBody('Identifier and Type', name.el, type.el, profile.el, trusted.el),
    fields: [name, type, profile, trusted],
    type,
    summary: () => [
      ['Name', name.value()],
      ['Type', label(spec.types, type.value())],
      ...(isShown(profile) && profile.value() ? [['Profile', profile.value()] as const] : []),
      ...(isShown(trusted) && trusted.value() ? [['Add To Trusted Store', 'Yes'] as const] : []),
    ],
    payload: () => ({ name: name.value(), create_type: type.value(), ...(isShown(trusted) ? { add_to_trusted_store: trusted.value() } : {}) }),
  };
}

/** Step 2: signing CA, key type with its length or curve, digest and lifetime. */
export function optionsStep(spec: { choices: Choices; signedBy?: readonly Option[]; lifetime?: number; lifetimeHint?: string; autoRenew?: boolean }): Step & { apply(profile: Profile): void; showSignedBy(shown: boolean): void } {
  const { choices } = spec;
  const signedBy = select({
    path: 'signedby',
    label: 'Signing Certificate Authority',
    options: spec.signedBy ?? [],
    required: true,
    hint: spec.signedBy?.length ? 'A certificate authority on this system that holds its private key.' : 'No certificate authority with a private key yet: add one first.',
  });
  const keyType = select({ path: 'key_type', label: 'Key Type', options: options(choices.key_type), value: 'RSA', required: true, hint: 'EC keys are smaller and faster; RSA works with the oldest clients.' });
  const keyLength = select({ path: 'key_length', label: 'Key Length', options: options(choices.key_length), value: '2048', required: true, hint: 'Bits of the RSA key; 2048 or more.' });
  const curve = select({ path: 'ec_curve', label: 'EC Curve', options: options(choices.ec_curve), value: 'SECP384R1', required: true });
  const digest = select({ path: 'digest_algorithm', label: 'Digest Algorithm', options: options(choices.digest_algorithm), value: 'SHA256', required: true });
  const lifetime = input({ path: 'lifetime', label: 'Lifetime (days)', type: 'number', min: 1, value: String(spec.lifetime ?? ''), required: true, hint: spec.lifetimeHint ?? 'Browsers accept at most 398 days for server certificates.' });
  // Internal certificates only: the same CA signs it again before it expires.
  const autoRenew = checkbox({ path: 'auto_renew', label: 'Renew Automatically', hint: 'Signed again by the same CA before it expires, with a new key: same names, extensions and lifetime.' });
  const renewDays = input({ path: 'renew_days', label: 'Renew Certificate Days Before Expiry', type: 'number', min: 1, max: 30, value: '10', required: true });
  showWhen(keyLength, () => keyType.value() === 'RSA', keyType);
  showWhen(curve, () => keyType.value() === 'EC', keyType);
  signedBy.el.hidden = !spec.signedBy;
  lifetime.el.hidden = spec.lifetime === undefined;
  autoRenew.el.hidden = !spec.autoRenew;
  showWhen(renewDays, () => Boolean(spec.autoRenew) && autoRenew.value(), autoRenew);
  const fields = [signedBy, keyType, keyLength, curve, digest, lifetime, autoRenew, renewDays];
  return {
    title: 'Certificate Options',
    body: stepBody('Certificate Options', fields.map((field) => field.el)),
    fields,
    showSignedBy: (shown) => void (signedBy.el.hidden = !shown),
    apply(profile) {
      if (profile.key_type) keyType.set(profile.key_type);
      if (profile.key_length) keyLength.set(String(profile.key_length));
      if (profile.ec_curve) curve.set(profile.ec_curve);
      if (profile.digest_algorithm) digest.set(profile.digest_algorithm);
      if (profile.lifetime && !lifetime.el.hidden) lifetime.set(String(profile.lifetime));
    },
    summary: () =>
      fields
        .filter(isShown)
        .map((field) => [field.label, field === signedBy ? label(spec.signedBy ?? [], field.value()) : field === autoRenew ? (autoRenew.value() ? 'Yes' : 'No') : String(field.value())] as const),
    payload: () => ({
      key_type: keyType.value(),
      digest_algorithm: digest.value(),
      ...(keyType.value() === 'RSA' ? { key_length: Number(keyLength.value()) } : { ec_curve: curve.value() }),
      ...(isShown(signedBy) ? { signedby: Number(signedBy.value()) } : {}),
      ...(isShown(lifetime) ? { lifetime: Number(lifetime.value()) } : {}),
      ...(isShown(autoRenew) && autoRenew.value() ? { auto_renew: true, renew_days: Number(renewDays.value()) } : {}),
    }),
  };
}

/** Step 3: the subject and the names the certificate is for. */
export function subjectStep(spec: { choices: Choices }): Step {
  // By name, not by code ("Germany" under G, not under D).
  const countries = options(spec.choices.country).sort(([, a], [, b]) => a.localeCompare(b, 'en'));
  const country = select({ path: 'country', label: 'Country', options: countries, value: 'US', required: true });
  const state = input({ path: 'state', label: 'State', required: true, autocomplete: 'address-level1' });
  const city = input({ path: 'city', label: 'Locality', required: true, hint: 'The city, for example.', autocomplete: 'address-level2' });
  const organization = input({ path: 'organization', label: 'Organization', required: true, autocomplete: 'organization' });
  const unit = input({ path: 'organizational_unit', label: 'Organizational Unit' });
  const email = input({ path: 'email', label: 'Email', type: 'email', required: true, validate: EMAIL_RULE, autocomplete: 'email' });
  const common = input({ path: 'common', label: 'Common Name', hint: 'The host name (FQDN), e.g. nas.example.com.' });
  const san = chips({
    path: 'san',
    label: 'Subject Alternative Names',
    required: true,
    placeholder: 'nas.example.com, 192.0.2.10',
    hint: 'Every host name or IP address clients use (also email: and URI: entries). Press Enter or comma after each.',
    validateEach: sanProblem,
    emptyMessage: 'Add at least one subject alternative name.',
  });
  const texts = [state, city, organization, unit, email, common];
  return {
    title: 'Certificate Subject',
    body: stepBody('Certificate Subject', h('div', { class: 'grid-2' }, country.el, state.el, city.el, organization.el, unit.el, email.el), common.el, san.el),
    fields: [country, ...texts, san],
    summary: () => [
      ['Subject Alternative Names', san.value().join(', ') || '—'],
      ...(common.value() ? [['Common Name', common.value()] as const] : []),
      ['Email', email.value()],
      ['Subject', [unit, organization, city, state].map((field) => field.value()).filter(Boolean).concat(country.value()).join(', ')],
    ],
    payload: () => ({
      country: country.value(),
      ...Object.fromEntries(texts.flatMap((field) => (optional(field) ? [[field.path, field.value()]] : []))),
      san: san.value(),
    }),
  };
}

const KEY_USAGES: readonly Option[] = [
  ['digital_signature', 'Digital Signature'],
  ['content_commitment', 'Content Commitment'],
  ['key_encipherment', 'Key Encipherment'],
  ['data_encipherment', 'Data Encipherment'],
  ['key_agreement', 'Key Agreement'],
  ['key_cert_sign', 'Key Cert Sign'],
  ['crl_sign', 'CRL Sign'],
  ['encipher_only', 'Encipher Only'],
  ['decipher_only', 'Decipher Only'],
  ['extension_critical', 'Critical Extension'],
];

type Extensions = Record<string, Record<string, unknown>>;

/** An extension: an enable box that reveals its options. */
function extension(name: string, title: string, hint: string, ...inner: Field<unknown>[]) {
  const enabled = checkbox({ path: `cert_extensions.${name}.enabled`, label: title, hint });
  const options = h('div', { class: 'extension-options' }, inner.map((field) => field.el));
  showWhen(options, () => enabled.value(), enabled);
  return { enabled, el: h('div', { class: 'extension' }, enabled.el, options), fields: [enabled, ...inner] };
}

const trueKeys = (values: Record<string, unknown> | undefined) => Object.entries(values ?? {}).filter(([, on]) => on === true).map(([key]) => key);

/** Step 4: Basic Constraints, Authority Key Identifier, Extended Key Usage, Key Usage. */
export function constraintsStep(spec: { choices: Choices; authorityKeyIdentifier: boolean; preset?: Extensions }): Step & { apply(extensions: Extensions): void } {
  const bcConfig = checks({ path: 'cert_extensions.BasicConstraints', label: 'Basic Constraints Config', options: [['ca', 'CA'], ['extension_critical', 'Critical Extension']] });
  const pathLength = input({ path: 'cert_extensions.BasicConstraints.path_length', label: 'Path Length', type: 'number', min: 0, hint: 'How many CAs may follow this one in a chain; empty for no limit.' });
  const akiConfig = checks({ path: 'cert_extensions.AuthorityKeyIdentifier', label: 'Authority Key Config', options: [['authority_cert_issuer', 'Authority Cert Issuer'], ['extension_critical', 'Critical Extension']] });
  const usages = checks({ path: 'cert_extensions.ExtendedKeyUsage.usages', label: 'Usages', options: options(spec.choices.extended_key_usage), required: true, columns: true });
  const ekuCritical = checkbox({ path: 'cert_extensions.ExtendedKeyUsage.extension_critical', label: 'Critical Extension' });
  const kuConfig = checks({ path: 'cert_extensions.KeyUsage', label: 'Key Usage Config', options: KEY_USAGES, columns: true, hint: 'Key Cert Sign needs the CA basic constraint; Encipher/Decipher Only need Key Agreement.' });
  const sections = {
    BasicConstraints: extension('BasicConstraints', 'Basic Constraints', 'Whether this is a CA, and how long a chain may grow below it.', pathLength, bcConfig),
    ...(spec.authorityKeyIdentifier
      ? { AuthorityKeyIdentifier: extension('AuthorityKeyIdentifier', 'Authority Key Identifier', 'Names the key of the issuing CA.', akiConfig) }
      : {}),
    ExtendedKeyUsage: extension('ExtendedKeyUsage', 'Extended Key Usage', 'What the certificate may be used for, e.g. TLS server or client.', usages, ekuCritical),
    KeyUsage: extension('KeyUsage', 'Key Usage', 'Which cryptographic operations the key may perform.', kuConfig),
  };
  const all = Object.values(sections);
  const apply = (extensions: Extensions) => {
    const { BasicConstraints: bc, AuthorityKeyIdentifier: aki, ExtendedKeyUsage: eku, KeyUsage: ku } = extensions;
    sections.BasicConstraints.enabled.set(bc?.enabled === true);
    bcConfig.set(trueKeys(bc).filter((key) => key !== 'enabled'));
    pathLength.set(typeof bc?.path_length === 'number' ? String(bc.path_length) : '');
    sections.AuthorityKeyIdentifier?.enabled.set(aki?.enabled === true);
    akiConfig.set(trueKeys(aki).filter((key) => key !== 'enabled'));
    sections.ExtendedKeyUsage.enabled.set(eku?.enabled === true);
    usages.set(Array.isArray(eku?.usages) ? (eku.usages as string[]) : []);
    ekuCritical.set(eku?.extension_critical === true);
    sections.KeyUsage.enabled.set(ku?.enabled === true);
    kuConfig.set(trueKeys(ku).filter((key) => key !== 'enabled'));
  };
  if (spec.preset) apply(spec.preset);
  const flags = (field: Field<string[]>, list: readonly Option[]) => Object.fromEntries(list.map(([key]) => [key, field.value().includes(key)]));
  return {
    title: 'Extra Constraints',
    body: stepBody('Extra Constraints', h('p', { class: 'hint' }, 'X.509 extensions. Enable one to choose its options.'), all.map((section) => section.el)),
    fields: all.flatMap((section) => section.fields),
    apply,
    summary: () => {
      const lines: Array<readonly [string, string]> = [];
      const labelsOf = (field: Field<string[]>, list: readonly Option[]) => field.value().map((value) => label(list, value)).join(', ') || '—';
      if (sections.BasicConstraints.enabled.value()) {
        lines.push(['Basic Constraints', labelsOf(bcConfig, [['ca', 'CA'], ['extension_critical', 'Critical Extension']])]);
        if (pathLength.value()) lines.push(['Path Length', pathLength.value()]);
      }
      if (sections.AuthorityKeyIdentifier?.enabled.value()) lines.push(['Authority Key Identifier', labelsOf(akiConfig, [['authority_cert_issuer', 'Authority Cert Issuer'], ['extension_critical', 'Critical Extension']])]);
      if (sections.ExtendedKeyUsage.enabled.value()) {
        lines.push(['Extended Key Usage', usages.value().join(', ')]);
        if (ekuCritical.value()) lines.push(['Critical Extension', 'Yes']);
      }
      if (sections.KeyUsage.enabled.value()) lines.push(['Key Usage', labelsOf(kuConfig, KEY_USAGES)]);
      return lines.length ? lines : [['Extensions', 'None']];
    },
    payload: () => {
      const bcOn = sections.BasicConstraints.enabled.value();
      return {
        cert_extensions: {
          BasicConstraints: {
            enabled: bcOn,
            ...flags(bcConfig, [['ca', ''], ['extension_critical', '']]),
            path_length: bcOn && pathLength.value() !== '' ? Number(pathLength.value()) : null,
          },
          ...(sections.AuthorityKeyIdentifier
            ? { AuthorityKeyIdentifier: { enabled: sections.AuthorityKeyIdentifier.enabled.value(), ...flags(akiConfig, [['authority_cert_issuer', ''], ['extension_critical', '']]) } }
            : {}),
          ExtendedKeyUsage: { enabled: sections.ExtendedKeyUsage.enabled.value(), extension_critical: ekuCritical.value(), usages: sections.ExtendedKeyUsage.enabled.value() ? usages.value() : [] },
          KeyUsage: { enabled: sections.KeyUsage.enabled.value(), ...Object.fromEntries(kuConfig.value().map((key) => [key, true])) },
        },
      };
    },
  };
}

/**
 * The Import step: PEM text (or an uploaded DER certificate or PKCS#12 bundle), its private key (or,
 * for certificates, a CSR on this system that holds it) and the passphrase twice. With `preview`,
 * Next asks the server what the input holds, and the confirm step shows it.
 */
export function importStep(spec: {
  title: string;
  pem: { path: string; label: string; hint: string };
  keyRequired: boolean;
  csrs?: readonly Option[];
  preview?: (input: ImportInput) => Promise<ImportPreview>;
  /** Whether a PKCS#12 bundle may be loaded (certificate.create takes one; CA import does not). */
  bundles?: boolean;
}): Step {
  const binary = Boolean(spec.preview);
  const csrExists = spec.csrs ? checkbox({ path: 'csr_exists', label: 'CSR exists on this system', hint: 'The certificate was issued for a CSR made here: its private key is used.' }) : null;
  const csr = select({ path: 'csr_id', label: 'Certificate Signing Request', options: spec.csrs ?? [], required: true });
  const pem = textarea({ ...spec.pem, hint: binary ? `${spec.pem.hint} A DER file (.der, .cer)${spec.bundles ? ' or a PKCS#12 bundle (.p12, .pfx)' : ''} can be loaded too.` : spec.pem.hint, required: true, rows: 8, file: !binary, placeholder: '-----BEGIN …-----' });
  const key = textarea({ path: 'privatekey', label: 'Private Key', required: spec.keyRequired, rows: 6, file: true, hint: 'PEM (PKCS#1, SEC1 or PKCS#8), encrypted or not.' });
  const passphrase = input({ path: 'passphrase', label: 'Passphrase', type: 'password', autocomplete: 'new-password', hint: binary ? spec.bundles ? 'Only if the private key is encrypted, or the password of a PKCS#12 bundle.' : 'Only if the private key is encrypted.' : 'Only if the private key is encrypted.' });
  const confirmation = input({ path: 'passphrase2', label: 'Confirm Passphrase', type: 'password', autocomplete: 'new-password' });
  confirmation.check = () => (confirmation.value() === passphrase.value() ? null : 'Passphrase value must match Confirm Passphrase.');
  const usesCsr = () => csrExists?.value() ?? false;
  // A loaded PKCS#12 bundle stands in for the certificate and key boxes.
  let bundle: { name: string; base64: string } | null = null;
  const bundleLine = h('div', { class: 'bundle-line', hidden: true });
  const bundleSlot = errorSlot('pkcs12', 'PKCS#12 Bundle', h('div', { class: 'field' }, bundleLine));
  const showBundle = () => {
    bundleLine.replaceChildren(
      ...(bundle
        ? [h('span', null, 'PKCS#12 bundle: ', h('strong', null, bundle.name)), ' ', h('button', { type: 'button', class: 'link', onclick: () => ((bundle = null), showBundle(), pem.focus()) }, 'Remove')]
        : []),
    );
    bundleLine.hidden = !bundle;
    bundleSlot.el.hidden = !bundle;
    pem.el.hidden = Boolean(bundle);
    key.el.hidden = Boolean(bundle);
    bundleSlot.error(null);
  };
  showBundle();
  if (binary) {
    const picker = h('input', {
      type: 'file',
      class: 'visually-hidden',
      tabIndex: -1,
      accept: spec.bundles ? '.pem,.crt,.cer,.der,.p12,.pfx,.txt' : '.pem,.crt,.cer,.der,.txt',
      onchange: async () => {
        const file = picker.files?.[0];
        picker.value = '';
        if (!file) return;
        if (spec.bundles && /\.(p12|pfx)$/i.test(file.name)) bundle = { name: file.name, base64: await fileBase64(file) };
        else {
          const text = await file.text();
          // PEM is text; anything else (a .der or binary .cer) goes as base64, as the API takes DER.
          pem.set(text.includes('-----BEGIN') ? text : await fileBase64(file));
        }
        pem.error(null);
        showBundle();
        if (bundle) passphrase.focus();
      },
    });
    pem.el.append(h('div', { class: 'field-tools' }, h('button', { type: 'button', class: 'link', onclick: () => picker.click() }, spec.bundles ? 'Load a certificate or PKCS#12 bundle from a file…' : 'Load certificate from a file…'), picker));
  }
  const keyFields = h('div', null, key.el, h('div', { class: 'grid-2' }, passphrase.el, confirmation.el));
  csr.el.hidden = true;
  if (csrExists) {
    showWhen(csr, usesCsr, csrExists);
    showWhen(keyFields, () => !usesCsr(), csrExists);
  }
  const material = (): ImportInput =>
    bundle
      ? { pkcs12: bundle.base64, ...(passphrase.value() ? { passphrase: passphrase.value() } : {}) }
      : { certificate: pem.value(), ...(key.value() ? { privatekey: key.value() } : {}), ...(passphrase.value() ? { passphrase: passphrase.value() } : {}) };
  const fields = [pem, bundleSlot, ...(csrExists ? [csrExists, csr] : []), key, passphrase, confirmation];
  let preview: ImportPreview | null = null;
  return {
    title: spec.title,
    body: stepBody(spec.title, pem.el, bundleSlot.el, csrExists?.el ?? null, csr.el, keyFields),
    fields,
    advance: spec.preview
      ? async () => {
          preview = null;
          const input = usesCsr() ? { certificate: pem.value() } : material();
          try {
            preview = await spec.preview!(input);
            return true;
          } catch (error) {
            const problems = validationProblems(error);
            if (!problems) throw error;
            const { placed, rest } = placeProblems(problems, fields);
            placed[0]?.focus();
            if (rest.length) throw new Error(rest.map(([, message]) => message).join(' '));
            return false;
          }
        }
      : undefined,
    summary: () => [
      ...(usesCsr() ? [['Using CSR', label(spec.csrs ?? [], csr.value())] as const] : []),
      ...(preview
        ? previewLines(usesCsr() ? { ...preview, private_key: null } : preview).filter(([name]) => !(usesCsr() && name === 'Private Key'))
        : [
            [spec.pem.label, pemPreview(pem.value())] as const,
            ...(!usesCsr() && key.value() ? [['Private Key', pemPreview(key.value())] as const] : []),
            ...(!usesCsr() && passphrase.value() ? [['Passphrase', 'With passphrase'] as const] : []),
          ]),
    ],
    payload: () => (usesCsr() ? { [spec.pem.path]: pem.value(), csr_id: Number(csr.value()) } : bundle ? material() : { ...material(), certificate: undefined, [spec.pem.path]: pem.value() }),
  };
}
