import type { AddressInfo, Server } from 'node:net';
import { isOutOfDescriptors } from '../errors.js';
import { reasonOf, type Logger, type ThrottledLog } from '../log.js';

/** Listens on `host:port` (port 0 picks one) and says where, as `http://host:port` (`https` with `secure`; IPv6 in brackets). */
export async function listen(
  server: Server,
  at: { readonly host: string; readonly port: number },
  options: { readonly secure?: boolean } = {},
): Promise<{ url: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { url: `${options.secure === true ? 'https' : 'http'}://${host}:${address.port}`, port: address.port };
}

/**
 * Errors of a listening server, which Node would otherwise raise as a crash:
 * out of descriptors at accept() (libuv closes the connections it cannot
 * take) is counted in `outOfDescriptors`, anything else logged.
 */
export function logServerErrors(server: Server, logger: Logger, outOfDescriptors: ThrottledLog): void {
  server.on('error', (error: NodeJS.ErrnoException) => {
    if (isOutOfDescriptors(error)) outOfDescriptors.note();
    // Before listening, listen() reports the error to whoever started the server.
    else if (server.listening) logger.error({ code: error.code, reason: reasonOf(error) }, 'server error');
  });
}
