/**
 * Ports for servers started as child processes, shared by the tests and the
 * benchmark, without probe-then-reuse (a port probed free can be taken by
 * anyone before the server binds it):
 * - camo binds port 0 and reports the port it got through a preload
 *   (camo-port.ts): `--import CAMO_PORT_REPORTER`, then read CAMO_LISTENING;
 * - servers that cannot (redis-server, nginx, or `ecamo serve` where its own
 *   port is part of its configuration) are started on a random port with
 *   `onSomePort`, and on another one when they report it taken. The port is
 *   the server's once it has started.
 */

/** The preload that makes Debian's camo report its port (camo-port.ts, compiled). */
export const CAMO_PORT_REPORTER = new URL('./camo-port.js', import.meta.url).pathname;
/** What camo prints with the reporter preloaded; group 1 is the port. */
export const CAMO_LISTENING = /camo-listening (\d+)\n/;

/** Below Linux's ephemeral range (from 32768), where outgoing connections take their local ports. */
const PORT_LOW = 20_000;
const PORT_SPAN = 12_000;
const ATTEMPTS = 20;

/** What `start` answers when the server could not bind the port because something else has it. */
export const PORT_TAKEN = Symbol('port taken');

/** Whether a server's output says its port was taken: Linux's EADDRINUSE text (nginx, redis-server) or Node's code. */
export function saysPortTaken(output: string): boolean {
  return /Address already in use|EADDRINUSE/.test(output);
}

/**
 * Starts a server with `start(port)` on a random port, and again on another
 * while it answers PORT_TAKEN (after making sure the failed one has exited).
 */
export async function onSomePort<T>(what: string, start: (port: number) => Promise<T | typeof PORT_TAKEN>): Promise<{ readonly port: number; readonly started: T }> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const port = PORT_LOW + Math.floor(Math.random() * PORT_SPAN);
    const started = await start(port);
    if (started !== PORT_TAKEN) return { port, started };
  }
  throw new Error(`${what} found no free port in ${ATTEMPTS} attempts`);
}
