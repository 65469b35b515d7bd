/**
 * Every URL the module loader resolves in this process from now on, seen from
 * outside the code that loads it: on Node 22.15 and later through
 * module.registerHooks, in this thread (ES imports and require() alike); on
 * Node 20 through module.register, whose hooks run in a thread of their own
 * and post each URL back (resolve-log-hooks.ts), so that it arrives a turn of
 * the event loop later and only ES imports are seen.
 */
import * as moduleApi from 'node:module';
import { MessageChannel } from 'node:worker_threads';

type NextResolve = (specifier: string, context: unknown) => { url: string };
/** module.register is deprecated from Node 25; @types/node 20 does not know registerHooks. */
const { registerHooks } = moduleApi as unknown as { registerHooks?: (hooks: { resolve(specifier: string, context: unknown, next: NextResolve): { url: string } }) => unknown };

export function watchResolved(onResolved: (url: string) => void): void {
  if (registerHooks !== undefined) {
    registerHooks({
      resolve(specifier, context, next) {
        const result = next(specifier, context);
        onResolved(result.url);
        return result;
      },
    });
    return;
  }
  const { port1, port2 } = new MessageChannel();
  port1.on('message', onResolved);
  port1.unref();
  moduleApi.register(new URL('./resolve-log-hooks.js', import.meta.url), { data: { port: port2 }, transferList: [port2] });
}
