import type http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { EcamoError } from '../errors.js';
import { sendError } from './respond.js';

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

/**
 * Malformed requests (oversized headers, bad syntax) never reach a request
 * handler: node:http hands them to 'clientError'. Answer them as every other
 * refusal, with `x-ecamo-error: bad-request`.
 */
export function answerClientErrors(server: http.Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    sendError(socket, new EcamoError('bad-request', error.message, tooLarge ? { status: 431, cause: error } : { cause: error }));
  });
}
