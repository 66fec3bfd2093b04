// A configured value that may be secret: a reference (env:NAME, file:PATH) or an explicit
// {literal: ...} for values that are not secret. Plain strings are refused.
import { z } from 'zod';

/** A value that may be secret: a reference string (env:/file:) or an explicit literal. */
export const valueSource = z.custom<string | { literal: string }>(
  (v) =>
    (typeof v === 'string' && /^(env|file):.+$/.test(v)) ||
    (typeof v === 'object' &&
      v !== null &&
      Object.keys(v).length === 1 &&
      typeof (v as { literal?: unknown }).literal === 'string'),
  {
    message:
      'must be a secret reference, "env:NAME" or "file:PATH", or {literal: "..."} for a value that is not secret ' +
      '(secrets are never written in the config file)',
  },
);

export type RawValueSource = z.infer<typeof valueSource>;

/** Asymmetric JWS algorithms (token and bundle signatures); never "none". */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
] as const;
