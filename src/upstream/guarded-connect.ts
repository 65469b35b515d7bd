import dns, { type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import { buildConnector } from './undici.js';
import { parseAddress, type AddressRanges } from '../config/ip-address.js';
import { EcamoError } from '../errors.js';
import { isGlobalAddress } from './ip-filter.js';

/** Raised (through net and undici) when a source resolves to an address it may not be fetched from. */
export class PrivateAddressError extends EcamoError {
  override readonly name = 'PrivateAddressError';

  constructor(readonly host: string, readonly address: string, why = 'non-global') {
    super('unallowed-source', `${host} resolves to ${why} address ${address}`);
  }
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;
type Lookup = (hostname: string, options: LookupOptions, callback: LookupCallback) => void;

/** Why a pool may not connect to an address (as sockets and resolvers spell it), or undefined when it may. */
export type AddressRule = (address: string) => string | undefined;

/** The guarded pool's rule: global unicast only. */
export const globalOnly: AddressRule = (address) => (isGlobalAddress(address) ? undefined : 'non-global');

/**
 * The operator's deny list (ECAMO_SOURCE_BLOCKED_CIDRS) on top of `rule`;
 * an address that does not parse is refused. IPv4-mapped IPv6 addresses count
 * as their IPv4 address.
 */
export function refusingBlocked(blocked: AddressRanges, rule: AddressRule = () => undefined): AddressRule {
  return (address) => {
    const parsed = parseAddress(address);
    if (parsed === undefined || blocked.contains(parsed)) return 'blocked';
    return rule(address);
  };
}

/**
 * A `lookup` for net.connect that refuses the whole name if any address it
 * resolves to breaks `rule`. net calls it with `all: true` when happy eyeballs
 * (autoSelectFamily) is on, and without it otherwise; both forms are answered.
 * Because the socket connects to exactly what this returns, a DNS answer that
 * changes between check and use (rebinding) cannot slip through.
 */
function lookupUnder(rule: AddressRule): Lookup {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      for (const entry of addresses) {
        const why = rule(entry.address);
        if (why !== undefined) return callback(new PrivateAddressError(hostname, entry.address, why), []);
      }
      const [first] = addresses;
      if (first === undefined) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
      if (options.all) return callback(null, addresses);
      return callback(null, first.address, first.family);
    });
  };
}

/** The lookup of the guarded pool: every address a name resolves to must be global. */
export const guardedLookup: Lookup = lookupUnder(globalOnly);

/**
 * An undici connector that only ever opens sockets to addresses `rule`
 * allows (by default: global ones). Literal IP hosts never reach `lookup`,
 * so they are judged here.
 */
export function guardedConnector(options: buildConnector.BuildOptions = {}, rule: AddressRule = globalOnly): buildConnector.connector {
  const connect = buildConnector({ ...options, lookup: lookupUnder(rule) });
  return (connectOptions, callback) => {
    const host = connectOptions.hostname.replace(/^\[(.*)\]$/, '$1');
    const why = isIP(host) === 0 ? undefined : rule(host);
    if (why !== undefined) {
      callback(new PrivateAddressError(host, host, why), null);
      return;
    }
    connect(connectOptions, callback);
  };
}
