import http, { type IncomingMessage, type ServerResponse } from 'node:http';

/**
 * Routes a request under /.ecamo/ to ecamo with its Host header intact:
 * ecamo derives the service origin from it and checks it against the
 * tokens. In production a front proxy usually does this instead (see
 * contrib/deploy/nginx/service-origin.conf), and the application only signs.
 */
export function forwardToEcamo(ecamo: URL, req: IncomingMessage, res: ServerResponse): void {
  const forward = http.request(
    { host: ecamo.hostname, port: ecamo.port, method: req.method, path: req.url, headers: req.headers },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  forward.on('error', () => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end('ecamo unreachable');
  });
  req.pipe(forward);
}
