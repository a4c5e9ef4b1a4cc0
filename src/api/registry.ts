import { z } from 'zod';
import type { AnyMethod } from './define-method.js';
import type { EventDefinition, PluginDefinition } from './define-plugin.js';

export interface MethodSchemas {
  params: Array<{ name: string; schema: unknown }>;
  result: unknown;
}

/** Every method and event of the loaded plugins, checked once at start. */
export class Registry {
  readonly plugins: PluginDefinition[] = [];
  private readonly methods = new Map<string, AnyMethod>();
  private readonly events = new Map<string, EventDefinition>();
  private readonly schemas = new Map<string, MethodSchemas>();

  /** Loads plugins in order, failing fast on anything inconsistent. */
  load(plugins: readonly PluginDefinition[]): this {
    for (const plugin of plugins) this.loadPlugin(plugin);
    return this;
  }

  private loadPlugin(plugin: PluginDefinition): void {
    const fail = (why: string) => {
      throw new Error(`Plugin ${plugin.namespace}: ${why}`);
    };
    if (this.plugins.some((p) => p.namespace === plugin.namespace)) fail('loaded twice');
    for (const dependency of plugin.dependsOn ?? []) {
      if (!this.plugins.some((p) => p.namespace === dependency)) fail(`depends on ${dependency}, which is not loaded before it`);
    }
    for (const method of plugin.methods) {
      if (!method.name.startsWith(`${plugin.namespace}.`)) fail(`method ${method.name} is outside the namespace`);
      if (method.name.slice(plugin.namespace.length + 1).includes('.')) fail(`method ${method.name} has a dotted name`);
      if (this.methods.has(method.name)) fail(`method ${method.name} is declared twice`);
      if (!method.public && method.roles === undefined) fail(`method ${method.name} declares no roles`);
      if (method.job?.pipes?.length && !method.job.inDaemon) fail(`job ${method.name} has pipes but does not run in the daemon`);
      this.methods.set(method.name, withPluginDefaults(plugin, method));
      this.schemas.set(method.name, toSchemas(method, fail));
    }
    for (const event of plugin.events ?? []) {
      if (this.events.has(event.name)) fail(`event ${event.name} is declared twice`);
      this.events.set(event.name, event);
    }
    this.plugins.push(plugin);
  }

  method(name: string): AnyMethod | undefined {
    return this.methods.get(name);
  }

  allMethods(): AnyMethod[] {
    return [...this.methods.values()];
  }

  event(name: string): EventDefinition | undefined {
    return this.events.get(name);
  }

  allEvents(): EventDefinition[] {
    return [...this.events.values()];
  }

  schemasOf(name: string): MethodSchemas | undefined {
    return this.schemas.get(name);
  }
}

/** The method as the dispatcher and job runners see it: the plugin's validation style unless it names its own. */
function withPluginDefaults(plugin: PluginDefinition, method: AnyMethod): AnyMethod {
  if (method.validation !== undefined || plugin.validation === undefined) return method;
  return { ...method, validation: plugin.validation };
}

function toJsonSchema(schema: z.ZodType): unknown {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
}

function toSchemas(method: AnyMethod, fail: (why: string) => never): MethodSchemas {
  try {
    return {
      params: Object.entries(method.params as Record<string, z.ZodType>).map(([name, schema]) => ({
        name,
        schema: toJsonSchema(schema),
      })),
      result: toJsonSchema(method.result),
    };
  } catch (error) {
    return fail(`method ${method.name} has a schema JSON Schema cannot express: ${(error as Error).message}`);
  }
}
