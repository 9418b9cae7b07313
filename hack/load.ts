/**
 * The bench's load generator, in a process of its own so its CPU is not the hook server's timer:
 * `tsx hack/load.ts <url> <body file> <concurrency> <calls> <ca file>` POSTs the body over
 * keep-alive HTTPS and prints `{ p50, p99, perSecond }` (milliseconds, calls per second) as JSON.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';

const [url = '', bodyFile = '', concurrencyArg = '1', callsArg = '1000', caFile = ''] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const calls = Number(callsArg);
const body = readFileSync(bodyFile, 'utf8');
const agent = new https.Agent({ keepAlive: true, maxSockets: concurrency, ca: readFileSync(caFile) });

const once = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const req = https.request(url, { method: 'POST', agent }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200
          ? resolve(Number(process.hrtime.bigint() - t) / 1e6)
          : reject(new Error(`HTTP ${res.statusCode} from ${url}`)),
      );
    });
    req.on('error', reject);
    req.end(body);
  });

const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;

// Warm-up: connections, TLS sessions and the server's JIT.
for (let i = 0; i < 200; i++) await once();
const times: number[] = [];
let next = 0;
const started = Date.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next++ < calls) times.push(await once());
  }),
);
const elapsed = (Date.now() - started) / 1000;
agent.destroy();
times.sort((a, b) => a - b);
process.stdout.write(
  JSON.stringify({ p50: pct(times, 50), p99: pct(times, 99), perSecond: calls / elapsed }),
);
