/**
 * Preloaded into Debian's camo (`node --import`): camo listens on $PORT and
 * never says which port PORT=0 gave it, so report it on stdout as
 * `camo-listening <port>` for the test to read back.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const createServer = http.createServer;
// camo is CommonJS: require('http') is this same object, so it sees the wrapped function.
(http as { createServer: typeof http.createServer }).createServer = ((...args: Parameters<typeof http.createServer>) => {
  const server = createServer(...args);
  server.once('listening', () => process.stdout.write(`camo-listening ${(server.address() as AddressInfo).port}\n`));
  return server;
}) as typeof http.createServer;
