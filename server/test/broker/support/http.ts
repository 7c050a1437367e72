/** Minimal HTTPS JSON calls for endpoints the ApiClient does not wrap (telemetry, ask_device renew). */
import https from 'node:https';

export interface HttpResult<T> {
  status: number;
  body: T;
}

export function apiCall<T = unknown>(
  url: string,
  opts: { method?: 'GET' | 'POST'; token: string; caPem: string; body?: unknown },
): Promise<HttpResult<T>> {
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = https.request(
      url,
      {
        method: opts.method ?? 'GET',
        ca: opts.caPem,
        headers: {
          authorization: `Token ${opts.token}`,
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as T });
          } catch {
            reject(new Error(`${url}: not JSON (${res.statusCode}): ${text.slice(0, 200)}`));
          }
        });
      },
    );
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}
