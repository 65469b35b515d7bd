/**
 * A small OTLP/HTTP trace receiver on 127.0.0.1: keeps every export's bytes
 * as they arrived, and decodes OTLP/JSON ones into spans.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ExportRequest {
  readonly path: string;
  readonly contentType: string | undefined;
  readonly body: Buffer;
}

export type AttributeValue = string | number | boolean | undefined;

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** Empty for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP's SpanKind: 2 server, 3 client, 1 internal. */
  readonly kind: number;
  /** 2: error. */
  readonly statusCode: number;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly resource: Readonly<Record<string, AttributeValue>>;
}

export interface OtlpReceiver {
  /** `http://127.0.0.1:port`: what OTEL_EXPORTER_OTLP_ENDPOINT is set to. */
  readonly url: string;
  readonly exports: ExportRequest[];
  /** The spans of every OTLP/JSON export so far. */
  spans(): ReceivedSpan[];
  close(): Promise<void>;
}

interface JsonAttribute {
  readonly key: string;
  readonly value: { readonly stringValue?: string; readonly intValue?: number | string; readonly boolValue?: boolean; readonly doubleValue?: number };
}

interface JsonExport {
  readonly resourceSpans: readonly {
    readonly resource: { readonly attributes: readonly JsonAttribute[] };
    readonly scopeSpans: readonly {
      readonly spans: readonly {
        readonly traceId: string;
        readonly spanId: string;
        readonly parentSpanId?: string;
        readonly name: string;
        readonly kind: number;
        readonly status?: { readonly code?: number };
        readonly attributes: readonly JsonAttribute[];
      }[];
    }[];
  }[];
}

function attributesOf(list: readonly JsonAttribute[]): Record<string, AttributeValue> {
  const attributes: Record<string, AttributeValue> = {};
  for (const { key, value } of list) {
    attributes[key] = value.stringValue ?? (value.intValue === undefined ? undefined : Number(value.intValue)) ?? value.boolValue ?? value.doubleValue;
  }
  return attributes;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const exports: ExportRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      exports.push({ path: req.url ?? '', contentType: req.headers['content-type'], body: Buffer.concat(chunks) });
      // An empty ExportTraceServiceResponse: full success, in either encoding.
      const json = req.headers['content-type'] === 'application/json';
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exports,
    spans() {
      const spans: ReceivedSpan[] = [];
      for (const received of exports.filter((item) => item.contentType === 'application/json')) {
        const decoded = JSON.parse(received.body.toString('utf8')) as JsonExport;
        for (const resourceSpans of decoded.resourceSpans) {
          const resource = attributesOf(resourceSpans.resource.attributes);
          for (const scope of resourceSpans.scopeSpans) {
            for (const span of scope.spans) {
              spans.push({
                traceId: span.traceId,
                spanId: span.spanId,
                parentSpanId: span.parentSpanId ?? '',
                name: span.name,
                kind: span.kind,
                statusCode: span.status?.code ?? 0,
                attributes: attributesOf(span.attributes),
                resource,
              });
            }
          }
        }
      }
      return spans;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
