import { readFile } from 'node:fs/promises';
import { type GatewayOptions, OptionError, optionSpecs, resolveOptions } from './options.js';

/** Where option values come from; later sources win: file, then environment, then flags. */
export interface OptionSources {
  /** Values given as command-line flags, by option key (strings as typed). */
  flags?: Partial<Record<keyof GatewayOptions, unknown>>;
  /** The environment to read `PUSHGATE_*` variables from. */
  env?: NodeJS.ProcessEnv;
  /** A JSON config file whose keys are option keys (e.g. `{"apiPort": 7788}`). */
  configFile?: string;
}

/** Reads and parses a JSON config file, refusing anything that is not an object of known keys. */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new OptionError('config', `cannot read config file ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new OptionError('config', `config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new OptionError('config', `config file ${path} must hold a JSON object of options`);
  }
  return parsed as Record<string, unknown>;
}

/** Merges defaults, config file, environment and flags into checked {@link GatewayOptions}. */
export async function loadOptions(sources: OptionSources): Promise<GatewayOptions> {
  const merged: Record<string, unknown> = {};
  if (sources.configFile !== undefined) {
    const file = await readConfigFile(sources.configFile);
    try {
      resolveOptions(file);
    } catch (error) {
      if (error instanceof OptionError) throw new OptionError('config', `config file ${sources.configFile}: ${error.message}`);
      throw error;
    }
    Object.assign(merged, file);
  }
  const env = sources.env ?? {};
  for (const option of optionSpecs) {
    const value = env[option.env];
    if (value !== undefined && value !== '') merged[option.key] = value;
  }
  for (const [key, value] of Object.entries(sources.flags ?? {})) {
    if (value !== undefined) merged[key] = value;
  }
  return resolveOptions(merged);
}
