import type http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on `host:port` (port 0 picks one) and says where, as `http://host:port` (IPv6 in brackets). */
export async function listen(server: http.Server, at: { readonly host: string; readonly port: number }): Promise<{ url: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { url: `http://${host}:${address.port}`, port: address.port };
}
