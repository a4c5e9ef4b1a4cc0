import type { z } from 'zod';
import type { Role } from '../auth/roles.js';
import type { JsonText } from '../rpc/json-text.js';
import type { CallContext } from './call-context.js';
import type { ValidationStyle } from './validate.js';

/** Positional parameters, in order: the key is the name used in attribute paths. */
export type ParamsShape = Record<string, z.ZodType>;

export type ParamsOf<P extends ParamsShape> = { [K in keyof P]: z.output<P[K]> };

export interface JobOptions<P extends ParamsShape> {
  /** Jobs with the same lock run one at a time (TrueNAS `@job(lock=…)`). */
  lock?: string | ((params: ParamsOf<P>) => string | null);
  /** Whether `core.job_abort` may cancel it while it runs. */
  abortable?: boolean;
  /**
   * Runs in the daemon even when jobs go to workers: for jobs that only coordinate other jobs
   * (`core.job_wait`) and need the daemon's own state.
   */
  inDaemon?: boolean;
  /**
   * Files the job exchanges over HTTP (TrueNAS `@job(pipes=[…])`): `output` is a file the caller
   * downloads (`core.download` and `/_download`), `input` one it uploads (`/_upload`). Such jobs
   * must run in the daemon (`inDaemon`), where those routes are served.
   */
  pipes?: readonly ('input' | 'output')[];
}

export interface MethodDefinition<P extends ParamsShape = ParamsShape, R extends z.ZodType = z.ZodType> {
  /** `<namespace>.<method>` as on the wire. */
  name: string;
  /** User documentation shown by `core.get_methods`; never lists the params. */
  description: string;
  params: P;
  result: R;
  /**
   * The caller needs any one of these roles. An empty list means any logged-in caller may call it.
   * FULL_ADMIN may call everything.
   */
  roles: readonly Role[];
  /** Callable before login (auth.login_ex, core.set_options, …). */
  public?: boolean;
  /** Hidden from `core.get_methods` unless the session asked for private methods. */
  private?: boolean;
  /**
   * How argument errors are worded: `legacy` (the default) as TrueNAS's legacy schema layer words
   * them (certificate, certificateauthority), `pydantic` as its pydantic API models do
   * (acme.dns.authenticator). See `ValidationStyle`.
   */
  validation?: ValidationStyle;
  /**
   * Whether calls are recorded in the audit log. Unset: methods that only write roles (or
   * FULL_ADMIN) may call are; set `true` on reads that reveal secrets (exports with keys).
   */
  audit?: boolean;
  /** What an audit entry says the call does (TrueNAS `event_data.description`), e.g. "Create certificate". */
  auditDescription?: string;
  /** Present for methods that run as jobs. */
  job?: JobOptions<P>;
  /**
   * Runs in the daemon before a job is queued, so bad input gets an ordinary -32602 reply.
   * Ignored for plain methods (their handler does its own checks).
   */
  precheck?: (ctx: CallContext, params: ParamsOf<P>) => Promise<void> | void;
  /** Its result, or that result already written as `JsonText` (a reply splices it in as it is). */
  handler: (ctx: CallContext, params: ParamsOf<P>) => Promise<z.input<R> | JsonText> | z.input<R> | JsonText;
}

/** Declares one method; the registry, the dispatcher, the job worker and `core.get_methods` all read it. */
export function defineMethod<P extends ParamsShape, R extends z.ZodType>(
  definition: MethodDefinition<P, R>,
): MethodDefinition<P, R> {
  return definition;
}

/** A method of any parameter and result shape, as the registry stores it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyMethod = MethodDefinition<any, any>;
