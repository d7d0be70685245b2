/**
 * `scheduler_config.json` on disk: reading one (given the file or the folder holding it) and writing one
 * atomically. The format itself — parsing, validation, diffusers' layout — is scheduler-config.ts, which
 * stays free of node: modules so that samplers bundle for the browser.
 *
 * This module must not validate or convert configs itself.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile, writeJsonFile } from '../io/json.js';
import { parseSchedulerConfig, schedulerConfigJson, type SchedulerConfig } from './scheduler-config.js';

/** Reads `scheduler_config.json`, given its path or the folder holding it (e.g. `pipeline/scheduler`). */
export function readSchedulerConfig(path: string): SchedulerConfig {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'scheduler_config.json') : path;
  return parseSchedulerConfig(readJsonFile(file, 'scheduler config'), `scheduler config '${file}'`);
}

/** Writes `config` atomically to `path` (normally `<pipeline>/scheduler/scheduler_config.json`). */
export function writeSchedulerConfig(path: string, config: SchedulerConfig): void {
  writeJsonFile(path, schedulerConfigJson(config), { indent: 2, sortKeys: true });
}
