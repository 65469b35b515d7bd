/**
 * A request and its response as the request path uses them. node:http's
 * IncomingMessage and ServerResponse (HTTP/1.1) and node:http2's
 * compatibility Http2ServerRequest and Http2ServerResponse (HTTP/2 on the
 * TLS listener) are each one as they are, so that one request path serves
 * both without wrapping or casting either. Types only: nothing runs per
 * request. server/http-server.ts hands the listeners to node:http and
 * node:http2, so the compiler holds both servers' pairs to these.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';

export interface HttpRequest {
  /** HTTP/2's `:authority` is copied to `host` before the request path reads it (http/dispatch.ts). */
  readonly headers: IncomingHttpHeaders;
  /** Names and values in turn, as received (HTTP/1.1: several Host fields stay visible). */
  readonly rawHeaders: readonly string[];
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly httpVersion: string;
  readonly httpVersionMajor: number;
  /** The connection's socket (HTTP/2: a stand-in for the session's, with its addresses). */
  readonly socket: Socket;
}

export interface HttpResponse extends Pick<Writable, 'write' | 'end' | 'destroy' | 'on' | 'once' | 'off' | 'writable' | 'writableFinished' | 'destroyed'> {
  readonly req: HttpRequest;
  statusCode: number;
  readonly headersSent: boolean;
  /**
   * The fields as an object, or as names and values in turn (cached and
   * proxied answers: no object is built per request). node:http2's types
   * take only the object; its compatibility writeHead takes the array as
   * node:http does, which the protocol suite holds over HTTP/2 too.
   */
  writeHead(statusCode: number, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  setHeader(name: string, value: string): void;
}

/**
 * What a handler returns: undefined when it answered in the tick its request
 * arrived (an image answered from the caches, a fixed page, a refusal thrown
 * before any wait), else the promise of its answer: an image answered from
 * the caches builds no promise and queues no microtask.
 */
export type Answering = Promise<void> | undefined;
