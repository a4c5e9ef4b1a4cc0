import type { EntitySchema } from 'typeorm';
import type { Role } from '../auth/roles.js';
import type { App } from '../app.js';
import type { CertificateUsageProvider } from '../certs/usage.js';
import type { AnyMethod } from './define-method.js';
import type { ValidationStyle } from './validate.js';
import type { HttpRoute } from './http-route.js';

/** An event a client may `core.subscribe` to. */
export interface EventDefinition {
  name: string;
  description: string;
  /** Any one of these roles may subscribe; empty means any logged-in caller. */
  roles: readonly Role[];
}

export interface PluginDefinition {
  /** The wire namespace: every method name starts with `namespace.`. */
  namespace: string;
  description: string;
  /** Namespaces that must be loaded before this one. */
  dependsOn?: readonly string[];
  methods: readonly AnyMethod[];
  /**
   * How the argument errors of this plugin's methods are worded, for methods that do not say so
   * themselves (`MethodDefinition.validation`). Unset means each such method uses `legacy`.
   */
  validation?: ValidationStyle;
  events?: readonly EventDefinition[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  entities?: readonly EntitySchema<any>[];
  /**
   * Runs in the daemon once it listens (for example to create first-start records); may return what
   * stops the timers it started, which the daemon calls when it stops.
   */
  setup?: (app: App) => Promise<void | (() => void)>;
  /** HTTP routes served beside the API (CRLs, CA certificates). */
  routes?: (app: App) => readonly HttpRoute[];
  /** The certificates this plugin's services use: shown in their entries, kept from deletion and revocation. */
  certificateUsage?: CertificateUsageProvider;
}

export function definePlugin(definition: PluginDefinition): PluginDefinition {
  return definition;
}

/** The `<ns>.query` event CRUD namespaces emit, readable with the namespace's read role. */
export function queryEvent(namespace: string, readRoles: readonly Role[], what: string): EventDefinition {
  return {
    name: `${namespace}.query`,
    description: `Sent when ${what} is added, changed or removed; carries the id only.`,
    roles: readRoles,
  };
}
