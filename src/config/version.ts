import { readFileSync } from 'node:fs';

/**
 * ecamo's version, from its package.json (shipped beside `dist/src`, which
 * this file is compiled into), read once when the module loads.
 */
export const ECAMO_VERSION: string = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
