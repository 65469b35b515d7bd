/**
 * Module customization hooks for node:module register() (Node 20, where the
 * hooks run in a thread of their own): every URL the module loader resolves
 * is posted to the port they were registered with. What a process loaded,
 * seen from outside the code that loaded it (test/tracing/lazy-load.test.ts).
 */
import type { MessagePort } from 'node:worker_threads';

let port: MessagePort | undefined;

export function initialize(data: { readonly port: MessagePort }): void {
  port = data.port;
}

export async function resolve(
  specifier: string,
  context: unknown,
  nextResolve: (specifier: string, context: unknown) => Promise<{ url: string }>,
): Promise<{ url: string }> {
  const resolved = await nextResolve(specifier, context);
  port?.postMessage(resolved.url);
  return resolved;
}
