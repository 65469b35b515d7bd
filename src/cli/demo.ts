import { startDemo } from '../demo/start.js';

export async function demo(options: { port: number }): Promise<void> {
  const running = await startDemo(options);
  process.stdout.write(`\necamo demo is running.\n\n  Open ${running.pageUrl}\n\n(ecamo's canonical origin is ${running.canonicalOrigin}; Ctrl-C stops everything)\n\n`);
  const stop = (): void => {
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
