import { ConfigError } from './errors.js';

/** Where Redis is, parsed from `redis://[[user]:password@]host[:port][/db]` (or `rediss://` for TLS). */
export interface RedisTarget {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly tls: boolean;
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** The URL without its password, for logs. */
  readonly display: string;
}

/**
 * Parses a Redis URL. `name` is the variable or option it came from, named by
 * the ConfigError on a bad value.
 */
export function parseRedisUrl(name: string, text: string): RedisTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(name, 'must be a URL like redis://host:port/db');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new ConfigError(name, `must be a redis:// or rediss:// URL, got "${url.protocol}"`);
  if (url.hostname === '') throw new ConfigError(name, 'has no host');
  if (url.search !== '' || url.hash !== '') throw new ConfigError(name, 'must have no query or fragment');
  const dbText = url.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d{1,5}$/.test(dbText)) throw new ConfigError(name, `database must be a number, got "${dbText}"`);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const username = url.username === '' ? undefined : decodeURIComponent(url.username);
  const password = url.password === '' ? undefined : decodeURIComponent(url.password);
  const port = url.port === '' ? 6379 : Number(url.port);
  const db = dbText === '' ? 0 : Number(dbText);
  const display = `${url.protocol}//${username === undefined ? '' : `${url.username}@`}${url.host}/${db}`;
  return Object.freeze({ host, port, db, tls: url.protocol === 'rediss:', username, password, display });
}
