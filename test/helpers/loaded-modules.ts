/**
 * Preloaded into a child process whose modules a test asks about
 * (`NODE_OPTIONS=--import=<this file's URL>`): when the process exits, it
 * writes to $LOADED_MODULES_FILE, as JSON, every URL its module loader
 * resolved (resolve-watch.ts) and the built-in modules Node loaded
 * (process.moduleLoadList: `NativeModule internal/deps/undici/undici` is
 * Node's bundled copy of undici, behind its fetch and WebSocket).
 */
import { writeFileSync } from 'node:fs';
import { watchResolved } from './resolve-watch.js';

export interface LoadedModules {
  readonly resolved: readonly string[];
  readonly builtins: readonly string[];
}

const file = process.env.LOADED_MODULES_FILE;
if (file !== undefined) {
  const resolved: string[] = [];
  watchResolved((url) => resolved.push(url));
  process.on('exit', () => {
    // Undocumented, but in every Node since 0.x; @types/node does not know it.
    const builtins = (process as unknown as { moduleLoadList: string[] }).moduleLoadList;
    const loaded: LoadedModules = { resolved, builtins };
    writeFileSync(file, JSON.stringify(loaded));
  });
}
