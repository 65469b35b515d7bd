/**
 * Two nginx instances, each one worker process (the same one core that a
 * single ecamo or camo process gets): the origin serving the images, and a
 * plain reverse proxy in front of it, the ceiling a proxy can reach here.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startChild, startOnSomePort, waitForHttp, type Child } from './processes.js';

/** Everything nginx would otherwise write under /var goes under `dir`. */
function config(dir: string, http: string): string {
  const tmp = join(dir, 'tmp');
  return `pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
worker_processes 1;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${tmp}/body; proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi; uwsgi_temp_path ${tmp}/uwsgi; scgi_temp_path ${tmp}/scgi;
  # Node's servers never close a keep-alive connection after N requests; neither should nginx.
  keepalive_requests 1000000;
  keepalive_timeout 75s;
${http}
}
`;
}

/** Static files from `root`, as any image host would serve them. */
export function originConfig(dir: string, port: number, root: string): string {
  return config(dir, `  sendfile on;
  tcp_nopush on;
  open_file_cache max=16;
  types { image/png png; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    root ${root};
    location = /healthz { return 200 "ok\\n"; }
    location / { }
  }`);
}

/**
 * The ceiling. It takes the same ecamo-shaped paths as ecamo, except that the
 * first segment names the origin file (`/30k.png/v1/p/<digest>?t=<token>`), so
 * one rule serves every pool without nginx understanding tokens. Redirect
 * paths get a fixed 302 whose Location is as long as ecamo's. Under
 * `/cached/` the same paths go through proxy_cache, keyed by the whole
 * request URI (one entry per image and token), as a cache by path in front
 * of an image host would be.
 */
export function proxyConfig(dir: string, port: number, originPort: number, redirectLocation: string): string {
  const cache = join(dir, 'cache');
  return config(dir, `  proxy_cache_path ${cache} levels=1:2 keys_zone=images:16m max_size=256m inactive=1h use_temp_path=off;
  upstream origin {
    server 127.0.0.1:${originPort};
    keepalive 128;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = /healthz { return 200 "ok\\n"; }
    location ~ ^/[^/]+/v1/p/ {
      rewrite ^/([^/]+)/ /$1? break;
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # Stream through memory buffers, never spool bodies to disk (ecamo and camo don't either).
      proxy_max_temp_file_size 0;
    }
    location ~ ^/cached/[^/]+/v1/p/ {
      rewrite ^/cached/([^/]+)/ /$1? break;
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache images;
      proxy_cache_key $request_uri;
      proxy_cache_valid 200 1h;
      proxy_cache_lock on;
    }
    location ~ ^/[^/]+/v1/r/ {
      add_header Cache-Control "no-cache, no-store, max-age=0, must-revalidate" always;
      return 302 "${redirectLocation}";
    }
  }`);
}

/** Writes `nginx.conf` into `dir` and runs nginx in the foreground; resolves once /healthz answers. */
/** nginx with the configuration `confFor` writes for a port, on some free port (it cannot bind 0 and report it). */
export async function startNginx(binary: string, name: string, dir: string, confFor: (port: number) => string): Promise<{ readonly port: number; readonly child: Child }> {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const file = join(dir, 'nginx.conf');
  return startOnSomePort(name, async (port) => {
    writeFileSync(file, confFor(port));
    // -e: without it nginx first tries /var/log/nginx/error.log, which may not be writable.
    const child = startChild(name, binary, ['-p', dir, '-c', file, '-e', join(dir, 'error.log'), '-g', 'daemon off;']);
    await waitForHttp(child, `http://127.0.0.1:${port}/healthz`);
    return child;
  });
}
