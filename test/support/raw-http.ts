// HTTP requests a fetch() cannot send: the same header twice, on separate lines (fetch
// joins them into one), with Node's own client.
import { request } from 'node:http';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** POSTs `body` with exactly these header lines; an array value is sent as several lines. */
export function postWithHeaders(
  url: string,
  headers: Record<string, string | string[]>,
  body: string,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
