/**
 * Per-class settings as TrueNAS's `alertclasses` keeps them (`level`, `policy`), plus certmid's
 * `threshold` for classes whose check has a limit. Kept in the `setting` table, so every daemon
 * raises alerts the same way.
 */
import type { EntityManager } from 'typeorm';
import type { App } from '../app.js';
import { SettingEntity } from '../certs/default-certificate.js';
import type { AlertClass, AlertLevel, AlertPolicy } from './classes.js';

const SETTINGS_KEY = 'alertclasses';

export interface ClassSetting {
  level?: AlertLevel;
  policy?: AlertPolicy;
  threshold?: number;
}

export type ClassSettings = Record<string, ClassSetting>;

export async function readClassSettings(app: App, manager: EntityManager = app.db.manager): Promise<ClassSettings> {
  const row = await manager.getRepository(SettingEntity).findOneBy({ key: SETTINGS_KEY });
  if (!row) return {};
  try {
    return JSON.parse(row.value) as ClassSettings;
  } catch {
    app.logger.warn('the stored alert class settings cannot be read; using the defaults');
    return {};
  }
}

export async function writeClassSettings(manager: EntityManager, settings: ClassSettings): Promise<void> {
  await manager.getRepository(SettingEntity).upsert({ key: SETTINGS_KEY, value: JSON.stringify(settings) }, ['key']);
}

export function levelOf(settings: ClassSettings, klass: AlertClass): AlertLevel {
  return settings[klass.name]?.level ?? klass.level;
}

export function policyOf(settings: ClassSettings, klass: AlertClass): AlertPolicy {
  return settings[klass.name]?.policy ?? 'IMMEDIATELY';
}

/** The class's limit (days or hours, as the class says). */
export function thresholdOf(settings: ClassSettings, klass: AlertClass): number {
  return settings[klass.name]?.threshold ?? klass.threshold?.default ?? 0;
}
