/**
 * The kinds of alert certmid raises: TrueNAS's certificate classes with its titles and texts, and
 * certmid's own for what TrueNAS does not watch (CAs, ACME renewals, deploy targets, job workers,
 * CRLs, alert channels). Texts are TrueNAS's `%`-templates, filled from each alert's `args`.
 */

export const ALERT_LEVELS = ['INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL', 'ALERT', 'EMERGENCY'] as const;
export type AlertLevel = (typeof ALERT_LEVELS)[number];

export const ALERT_POLICIES = ['IMMEDIATELY', 'HOURLY', 'DAILY', 'NEVER'] as const;
export type AlertPolicy = (typeof ALERT_POLICIES)[number];

export const ALERT_CATEGORIES = { CERTIFICATES: 'Certificates', SYSTEM: 'System' } as const;
export type AlertCategory = keyof typeof ALERT_CATEGORIES;

export interface AlertClass {
  /** The wire name (`klass`), TrueNAS's class name without `AlertClass`. */
  name: string;
  category: AlertCategory;
  level: AlertLevel;
  title: string;
  /** A `%(arg)s` / `%(arg)r` / `%(arg)d` template. */
  text: string;
  /**
   * The limit the class's check uses, when it has one, with its unit; `alertclasses.update` may
   * change it per class (`threshold`).
   */
  threshold?: { default: number; unit: 'days' | 'hours'; description: string };
}

export const ALERT_CLASSES: readonly AlertClass[] = [
  {
    name: 'CertificateIsExpiring',
    category: 'CERTIFICATES',
    level: 'NOTICE',
    title: 'Certificate Is Expiring',
    text: 'Certificate %(name)r is expiring within %(days)d days.',
    threshold: { default: 10, unit: 'days', description: 'Raised when a certificate expires in fewer days than this.' },
  },
  {
    name: 'CertificateIsExpiringSoon',
    category: 'CERTIFICATES',
    level: 'WARNING',
    title: 'Certificate Is Expiring Soon',
    text: 'Certificate %(name)r is expiring within %(days)d days.',
    threshold: { default: 2, unit: 'days', description: 'Raised instead of CertificateIsExpiring from this many days before expiry.' },
  },
  { name: 'CertificateExpired', category: 'CERTIFICATES', level: 'CRITICAL', title: 'Certificate Has Expired', text: 'Certificate %(name)r has expired.' },
  { name: 'CertificateParsingFailed', category: 'CERTIFICATES', level: 'WARNING', title: 'Certificate Parsing Failed', text: 'Failed to parse %(type)s %(name)r.' },
  {
    name: 'CertificateRevoked',
    category: 'CERTIFICATES',
    level: 'CRITICAL',
    title: 'Certificate Revoked',
    text: '%(service)s %(type)s has been revoked. Please replace the certificate immediately.',
  },
  {
    name: 'CertificateAuthorityIsExpiring',
    category: 'CERTIFICATES',
    level: 'WARNING',
    title: 'Certificate Authority Is Expiring',
    text: 'Certificate authority %(name)r is expiring within %(days)d days; %(outliving)d certificate(s) it signed are valid for longer.',
    threshold: { default: 30, unit: 'days', description: 'Raised when a certificate authority expires in fewer days than this.' },
  },
  { name: 'CertificateAuthorityExpired', category: 'CERTIFICATES', level: 'CRITICAL', title: 'Certificate Authority Has Expired', text: 'Certificate authority %(name)r has expired.' },
  {
    name: 'AcmeCertificateRenewalFailed',
    category: 'CERTIFICATES',
    level: 'ERROR',
    title: 'ACME Certificate Renewal Failed',
    text: 'Renewing ACME certificate %(name)r failed %(attempts)d time(s): %(error)s. Next attempt: %(next_attempt)s.',
  },
  {
    name: 'CertificateRenewalFailed',
    category: 'CERTIFICATES',
    level: 'ERROR',
    title: 'Certificate Renewal Failed',
    text: 'Renewing certificate %(name)r with its certificate authority on this system failed %(attempts)d time(s): %(error)s. Next attempt: %(next_attempt)s.',
  },
  {
    name: 'DeployTargetFailed',
    category: 'CERTIFICATES',
    level: 'ERROR',
    title: 'Deploy Target Failed',
    text: 'Deploying certificate %(certificate)r to %(name)r failed %(attempts)d time(s): %(error)s. Next attempt: %(next_attempt)s.',
  },
  {
    name: 'CrlIsStale',
    category: 'CERTIFICATES',
    level: 'WARNING',
    title: 'Certificate Revocation List Is Going Stale',
    text: 'The CRL of certificate authority %(name)r expires at %(next_update)s and has not been renewed.',
    threshold: { default: 3, unit: 'hours', description: "Raised when a CA's CRL expires in fewer hours than this (certmid renews CRLs 6 hours ahead)." },
  },
  {
    name: 'AlertServiceFailed',
    category: 'SYSTEM',
    level: 'ERROR',
    title: 'Sending Alerts Failed',
    text: 'Sending alerts through %(name)r failed: %(error)s',
  },
  {
    name: 'NoJobWorker',
    category: 'SYSTEM',
    level: 'CRITICAL',
    title: 'No Job Worker Connected',
    text: 'No job worker has reported since %(since)s: jobs (certificate creation, renewal, deploys) wait in the queue. Start one with npm run worker.',
  },
];

export function alertClass(name: string): AlertClass | undefined {
  return ALERT_CLASSES.find((klass) => klass.name === name);
}

/** Python's `repr` of a string, as TrueNAS's `%(name)r` shows names: single-quoted unless that needs escaping. */
function pythonRepr(value: unknown): string {
  const text = String(value);
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  return `${quote}${text.replaceAll('\\', '\\\\').replaceAll(quote, `\\${quote}`)}${quote}`;
}

/** A class's text with the alert's arguments filled in (TrueNAS's `formatted`). */
export function formatAlertText(template: string, args: Record<string, unknown>): string {
  return template.replace(/%\((\w+)\)([srd])/g, (_match, name: string, conversion: string) => {
    const value = args[name];
    if (conversion === 'r') return pythonRepr(value);
    if (conversion === 'd') return String(Math.trunc(Number(value)));
    return String(value);
  });
}
