/**
 * An application that serves ecamo with workers through `ecamo/server`, as
 * docs/configuration.md shows it: every worker is a fork of this script.
 */
import { loadConfig, runWorkers } from 'ecamo/server';

await runWorkers(await loadConfig());
