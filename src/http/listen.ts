import type { AddressInfo, Server } from 'node:net';

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
