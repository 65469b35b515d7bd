/**
 * What a server of ecamo's needs around its request handler, whichever it is
 * (`ecamo serve`'s, `ecamo verify-proxy`'s): listening and saying where, the
 * server object's errors logged rather than crashing, the refusals Node
 * leaves to listeners, the drain, and the one way to answer a refusal (an
 * `x-ecamo-error` code and its status). A server outside `http/` takes these
 * from here, not from `http/`'s request path.
 */
export { drainable, type Drain } from './drain.js';
export { listen, logServerErrors } from './listen.js';
export { answerClientErrors, sendError } from '../http/respond.js';
