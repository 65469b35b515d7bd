/**
 * What a server of ecamo's needs around its request handler, whichever it is
 * (`ecamo serve`'s, `ecamo verify-proxy`'s): listening and saying where, the
 * server object's errors logged rather than crashing, the refusals Node
 * leaves to listeners, the drain and the signals that start it, and the one
 * way to answer and log a refusal (an `x-ecamo-error` code and its status). A server
 * outside `http/` takes these from here, not from `http/`'s request path.
 */
import type { Logger } from '../log.js';

export { drainable, type Drain } from './drain.js';
export { listen, logServerErrors } from './listen.js';
export { answerClientErrors, logRefusal, sendError } from '../http/respond.js';

/**
 * SIGTERM or SIGINT, once: logs `shutting down`, closes (a drain, within its
 * grace), then exits 0, or 1 when closing failed (logged as `shutdown failed`).
 */
export function exitOnSignals(close: () => Promise<void>, logger: Logger): void {
  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'shutting down');
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
