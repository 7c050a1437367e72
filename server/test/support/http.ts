import https from 'node:https';
import http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** Parsed JSON body, or undefined. */
  json: { error?: string; details?: { field?: string; code?: string; attempts_left?: number; rows?: { line: number; status: string; error?: string }[] } } & Record<string, unknown>;
}

/** A request with full control over method, headers and raw body (for malformed input). */
export function rawRequest(
  apiUrl: string,
  caPem: string,
  options: { method?: string; path: string; token?: string; headers?: Record<string, string>; body?: string | Buffer; localAddress?: string },
): Promise<RawResponse> {
  const url = new URL(apiUrl + options.path);
  const headers: Record<string, string | number> = { ...(options.headers ?? {}) };
  if (options.token) headers.authorization = `Token ${options.token}`;
  if (options.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    headers['content-length'] = Buffer.byteLength(options.body);
  }
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(url, { method: options.method ?? 'GET', headers, ca: caPem, agent: false, ...(options.localAddress ? { localAddress: options.localAddress } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: RawResponse['json'] = {};
        try {
          json = JSON.parse(text) as RawResponse['json'];
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
