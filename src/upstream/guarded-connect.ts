import dns, { type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import { buildConnector } from 'undici';
import { EcamoError } from '../errors.js';
import { isGlobalAddress } from './ip-filter.js';

/** Raised (through net and undici) when a source resolves to a non-global address. */
export class PrivateAddressError extends EcamoError {
  override readonly name = 'PrivateAddressError';

  constructor(readonly host: string, readonly address: string) {
    super('unallowed-source', `${host} resolves to non-global address ${address}`);
  }
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net.connect that refuses the whole name if any address it
 * resolves to is non-global. net calls it with `all: true` when happy eyeballs
 * (autoSelectFamily) is on, and without it otherwise; both forms are answered.
 * Because the socket connects to exactly what this returns, a DNS answer that
 * changes between check and use (rebinding) cannot slip through.
 */
export function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    const refused = addresses.find((entry) => !isGlobalAddress(entry.address));
    if (refused !== undefined) return callback(new PrivateAddressError(hostname, refused.address), []);
    const [first] = addresses;
    if (first === undefined) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
    if (options.all) return callback(null, addresses);
    return callback(null, first.address, first.family);
  });
}

/**
 * An undici connector that only ever opens sockets to global addresses.
 * Literal IP hosts never reach `lookup`, so they are judged here.
 */
export function guardedConnector(options: buildConnector.BuildOptions = {}): buildConnector.connector {
  const connect = buildConnector({ ...options, lookup: guardedLookup });
  return (connectOptions, callback) => {
    const host = connectOptions.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host) !== 0 && !isGlobalAddress(host)) {
      callback(new PrivateAddressError(host, host), null);
      return;
    }
    connect(connectOptions, callback);
  };
}
