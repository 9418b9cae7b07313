/**
 * Before a VIP is published: does something already answer on the address? Pools are often carved
 * out of ranges where someone once set a VIP by hand (CAREN refuses such an endpoint, its #1615);
 * a Cluster given one would fight the old holder for it.
 *
 * Without raw sockets (no ICMP, no ARP packets of our own), two signs, bounded by one timeout:
 * - a TCP connection to the endpoint port: accepted, or refused (a host's RST), means a host holds
 *   the address;
 * - the kernel's neighbour table around that attempt: where the process shares the segment
 *   (hostNetwork on a node of the VIP's segment), the SYN made the kernel resolve the address, and
 *   an entry that was not resolved before the SYN and is after means a host answered ARP (IPv4,
 *   `/proc/net/arp`) or NDP (IPv6, `ip -6 neigh`, where iproute2 is installed), even one whose
 *   firewall drops the SYN. An entry resolved before (maybe stale, of a holder long gone) says nothing.
 * Silence proves nothing about a host that ignores both; it is what can be known in a few hundred ms.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { isIPv4, isIPv6, Socket } from 'node:net';
import { promisify } from 'node:util';

export interface ProbeResult {
  readonly answered: boolean;
  /** What answered, for the Event and the claim: e.g. "TCP 6443 refused (a host's RST)". */
  readonly how: string;
}

export type Prober = (address: string, port: number) => Promise<ProbeResult>;

const SILENT: ProbeResult = { answered: false, how: 'no answer' };

/** A TCP attempt: 'accepted', 'refused', or undefined (no answer in time, or unreachable). */
function tcp(address: string, port: number, timeoutMs: number): Promise<'accepted' | 'refused' | undefined> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (result: 'accepted' | 'refused' | undefined): void => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.once('connect', () => done('accepted'));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ECONNREFUSED' ? 'refused' : undefined),
    );
    socket.connect({ host: address, port });
  });
}

/** `/proc/net/arp`: IP, HW type, Flags (0x2 complete), HW address, Mask, Device. */
export function arpAnswered(table: string, address: string): string | undefined {
  for (const line of table.split('\n').slice(1)) {
    const [ip, , flags, mac] = line.trim().split(/\s+/);
    if (ip === address && flags && (Number(flags) & 0x2) !== 0 && mac && mac !== '00:00:00:00:00:00')
      return mac;
  }
  return undefined;
}

/** `ip -6 neigh show <address>`: "fd00::5 dev eth0 lladdr 52:54:… REACHABLE"; FAILED/INCOMPLETE are not answers. */
export function ndpAnswered(output: string): string | undefined {
  const m = /\blladdr\s+(\S+)/.exec(output);
  return m && !/\b(FAILED|INCOMPLETE)\b/.test(output) ? m[1] : undefined;
}

async function neighbour(address: string): Promise<string | undefined> {
  try {
    if (isIPv4(address)) return arpAnswered(await readFile('/proc/net/arp', 'utf8'), address);
    if (isIPv6(address)) {
      const { stdout } = await promisify(execFile)('ip', ['-6', 'neigh', 'show', address], {
        timeout: 1_000,
      });
      return ndpAnswered(stdout);
    }
  } catch {
    // No /proc (not Linux) or no iproute2: the TCP answer is all there is.
  }
  return undefined;
}

/** The real prober: TCP to the port, then the neighbour table; at most about `timeoutMs`. */
export function addressProber(timeoutMs: number): Prober {
  return async (address, port) => {
    const before = await neighbour(address);
    const answer = await tcp(address, port, timeoutMs);
    if (answer === 'accepted') return { answered: true, how: `TCP ${port} accepted a connection` };
    if (answer === 'refused') return { answered: true, how: `a host refused TCP ${port} (its RST)` };
    const mac = before ? undefined : await neighbour(address);
    if (mac) return { answered: true, how: `${isIPv4(address) ? 'ARP' : 'NDP'}: ${mac} answers for it` };
    return SILENT;
  };
}

/** Which addresses may be probed: `all`, `none`, or CIDRs (e.g. only the on-prem ranges). */
export type ProbeScope = 'all' | 'none' | readonly string[];

/** Whether `address` falls inside `cidr` (IPv4 or IPv6). */
export function inCidr(address: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const toBig = (ip: string): bigint | undefined => {
    if (isIPv4(ip)) return ip.split('.').reduce((n, o) => (n << 8n) + BigInt(Number(o)), 0n);
    if (!isIPv6(ip)) return undefined;
    const [head = '', tail = ''] = ip.split('::');
    const h = head ? head.split(':') : [];
    const t = ip.includes('::') ? (tail ? tail.split(':') : []) : [];
    const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    return groups.reduce((n, g) => (n << 16n) + BigInt(parseInt(g || '0', 16)), 0n);
  };
  const width = isIPv4(address) ? 32n : 128n;
  if (!base || isIPv4(base) !== isIPv4(address)) return false;
  const a = toBig(address);
  const b = toBig(base);
  const prefix = BigInt(Number(bits ?? width));
  if (a === undefined || b === undefined || prefix > width) return false;
  const shift = width - prefix;
  return a >> shift === b >> shift;
}

export const inScope = (scope: ProbeScope, address: string): boolean =>
  scope === 'all' ? true : scope === 'none' ? false : scope.some((c) => inCidr(address, c));
