/**
 * The environment of the operator CLI (`npm run invoicing`), parsed once by zod: where the API
 * is and the operator key to call it with.
 */
import { z } from 'zod';
import { ConfigError, invalidConfig, loadConfig } from './env.js';

const cliEnvSchema = z.object({
  /** The burnrate API; default the local one on PORT. */
  BURNRATE_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** An operator key; default the operator key of BURNRATE_API_KEYS, else the development key. */
  BURNRATE_OPERATOR_KEY: z.string().min(8, 'at least 8 characters').optional(),
});

export interface CliConfig {
  url: string;
  operatorKey: string;
  /** True when no key was given and the development operator key is used. */
  devKey: boolean;
}

export function loadCliConfig(env: NodeJS.ProcessEnv = process.env): CliConfig {
  const parsed = cliEnvSchema.safeParse(env);
  if (!parsed.success) throw invalidConfig(parsed.error);
  const e = parsed.data;
  const url = (e.BURNRATE_URL ?? `http://127.0.0.1:${loadConfig({ PORT: env.PORT }).port}`).replace(
    /\/+$/,
    '',
  );
  if (e.BURNRATE_OPERATOR_KEY) return { url, operatorKey: e.BURNRATE_OPERATOR_KEY, devKey: false };
  const service = loadConfig(env);
  const operator = service.apiKeys.find((k) => k.role === 'operator');
  if (!operator) {
    throw new ConfigError(
      'invalid configuration:\n  BURNRATE_OPERATOR_KEY: required (BURNRATE_API_KEYS has no operator key)',
    );
  }
  return { url, operatorKey: operator.key, devKey: service.devApiKeys };
}
