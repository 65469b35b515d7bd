import { ConfigError } from './errors.js';

/**
 * atmos/camo's built-in CAMO_KEY: published in its source, so URLs signed
 * with it prove nothing about who wrote them.
 */
const CAMO_DEFAULT_KEY = '0x24FEEDFACEDEADBEEFCAFE';

/**
 * `ECAMO_CAMO_KEY`: one or more camo HMAC keys, comma-separated, newest first
 * (all verify; `ecamo sign-camo` signs with the first). Keys are used byte for
 * byte as camo and go-camo use them, so surrounding spaces are refused rather
 * than silently trimmed or kept.
 */
export function parseCamoKeys(variable: string, text: string): readonly [string, ...string[]] {
  // split yields at least one piece, '' for an empty text (refused below).
  const keys = text.split(',') as [string, ...string[]];
  for (const key of keys) {
    if (key === '') throw new ConfigError(variable, 'has an empty key (check for stray commas)');
    if (key.trim() !== key) throw new ConfigError(variable, 'has a key with surrounding spaces; keys are used byte for byte, separate them with bare commas');
    if (key === CAMO_DEFAULT_KEY) throw new ConfigError(variable, "is camo's published default key, with which anyone can sign URLs");
  }
  return Object.freeze(keys);
}
