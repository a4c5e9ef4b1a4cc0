/**
 * Server validation errors on the fields they name. TrueNAS's wizards show them in a generic
 * popup; here each message lands under its field and the rest are listed above the buttons.
 */
import { ConnectionError, JobError, RpcError } from '../src/client/client.js';
import { isShown, type Field } from './fields.js';

export type Problem = readonly [attribute: string, message: string];

/** The `[attribute, message]` pairs of a validation error (call error EINVAL or failed job VALIDATION), else null. */
export function validationProblems(error: unknown): Problem[] | null {
  const extra =
    error instanceof RpcError && error.errname === 'EINVAL'
      ? error.data?.extra
      : error instanceof JobError && error.excInfo?.type === 'VALIDATION'
        ? error.excInfo.extra
        : null;
  if (!Array.isArray(extra) || extra.length === 0) return null;
  return extra.filter((item): item is [string, string] => Array.isArray(item) && typeof item[1] === 'string').map(([attribute, message]) => [String(attribute ?? ''), message]);
}

/** What a failure says, for a person: the server's reason without its `[EINVAL]` tags. */
export function describe(error: unknown): string {
  if (error instanceof ConnectionError) return 'The connection to the server was lost. Try again once it is back.';
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/^\[[A-Z_]+\]\s*/gm, '').trim() || 'Something went wrong.';
}

/**
 * The field an attribute names. `certificate_create.cert_extensions.KeyUsage.key_cert_sign` is
 * tried as itself, then without leading segments (the schema name varies with the create type),
 * each against the shown fields whose path is it or a prefix of it; array indexes are ignored.
 */
function fieldFor(attribute: string, fields: readonly Field<unknown>[]): Field<unknown> | undefined {
  const segments = attribute.split('.').filter((segment) => !/^\d+$/.test(segment));
  const shown = fields.filter(isShown);
  for (let start = 0; start < segments.length; start++) {
    const suffix = segments.slice(start).join('.');
    const matches = shown.filter((field) => suffix === field.path || suffix.startsWith(`${field.path}.`));
    if (matches.length > 0) return matches.reduce((best, field) => (field.path.length > best.path.length ? field : best));
  }
  return undefined;
}

/**
 * Shows each problem under its field; returns the fields that got one (first first) and the
 * problems no field claimed.
 */
/**
 * A message as the form words it: attribute names the server quotes (TrueNAS's `Should not be
 * specified when using "api_token".`) become the labels shown on the form ("API token").
 */
export function withLabels(message: string, fields: readonly Field<unknown>[]): string {
  return message.replace(/"([a-z][a-z0-9_.]*)"/g, (quoted, name: string) => {
    const field = fields.find((candidate) => candidate.path === name || candidate.path.endsWith(`.${name}`));
    return field ? `"${field.label}"` : quoted;
  });
}

export function placeProblems(problems: readonly Problem[], fields: readonly Field<unknown>[]): { placed: Field<unknown>[]; rest: Problem[] } {
  const placed: Field<unknown>[] = [];
  const rest: Problem[] = [];
  const messages = new Map<Field<unknown>, string[]>();
  for (const problem of problems) {
    const field = fieldFor(problem[0], fields);
    if (!field) {
      rest.push(problem);
      continue;
    }
    if (!messages.has(field)) placed.push(field);
    messages.set(field, [...(messages.get(field) ?? []), withLabels(problem[1], fields)]);
  }
  for (const [field, list] of messages) field.error(list.join(' '));
  return { placed, rest };
}
