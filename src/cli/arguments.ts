import { parseHostPort } from '../config/load.js';

/** A mistake in how a command was called: main.ts prints it with the usage and exits 2. */
export class ArgumentError extends Error {
  override readonly name = 'ArgumentError';
}

/** A positive whole number of seconds, as given to `--ttl` and friends. */
export function parseSeconds(flag: string, text: string): number {
  if (!/^\d{1,9}$/.test(text) || Number(text) === 0) throw new ArgumentError(`${flag} must be a positive whole number of seconds, got "${text}"`);
  return Number(text);
}

/** `host:port` or `[ipv6]:port`. */
export function parseListen(flag: string, text: string): { host: string; port: number } {
  const listen = parseHostPort(text);
  if (listen === undefined || listen.host === '') throw new ArgumentError(`${flag} must be host:port or [ipv6]:port, got "${text}"`);
  return listen;
}

/** An absolute http(s) URL. */
export function parseHttpUrl(flag: string, text: string): URL {
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ArgumentError(`${flag} must be an absolute http(s) URL, got "${text}"`);
  }
  return url;
}

/** A bare http(s) origin, e.g. `https://img.example`, as ecamo writes them in tokens. */
export function parseOrigin(flag: string, text: string): string {
  const url = parseHttpUrl(flag, text);
  if (url.origin !== text) throw new ArgumentError(`${flag} must be an origin such as ${url.origin}, got "${text}"`);
  return url.origin;
}

/** The one positional argument a command takes; an ArgumentError saying `usage` for none or more. */
export function onlyPositional(positionals: readonly string[], usage: string): string {
  const [only] = positionals;
  if (only === undefined || positionals.length !== 1) throw new ArgumentError(usage);
  return only;
}
