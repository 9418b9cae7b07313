/**
 * Before a VIP is published: does something already answer on the address? Pools are often carved
 * out of ranges where someone once set a VIP by hand (CAREN refuses such an endpoint, its #1615);
 * a Cluster given one would fight the old holder for it.
 *
 * Without raw sockets (no ICMP, no ARP packets of our own), two signs, bounded by one timeout:
 * - a TCP connection to the endpoint port: accepted means a host holds the address; refused may be
 *   a host's RST or a firewall's REJECT (Linux reports its ICMP port-unreachable as ECONNREFUSED
 *   too), so a refusal alone is an answer marked `filtered`;
 * - the kernel's neighbour table around that attempt: where the process shares the segment
 *   (hostNetwork on a node of the VIP's segment), the SYN made the kernel resolve the address, and
 *   an entry that was not resolved before the SYN and is after means a host answered ARP (IPv4,
 *   `/proc/net/arp`) or NDP (IPv6, `ip -6 neigh`, where iproute2 is installed), even one whose
 *   firewall drops the SYN, and one that makes a refusal a host's. An entry resolved before (maybe
 *   stale, of a holder long gone) says nothing.
 * Silence proves nothing about a host that ignores both; it is what can be known in a few hundred ms.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { BlockList, isIPv4, isIPv6, Socket } from 'node:net';
import { promisify } from 'node:util';

export interface ProbeResult {
  readonly answered: boolean;
  /** What answered, for the Event and the claim: e.g. "TCP 6443 accepted a connection". */
  readonly how: string;
  /**
   * True when the only sign was a refused TCP connection: a host's RST and a firewall's REJECT
   * look alike, so the address may be free behind a firewall. False when a fresh neighbour-table
   * answer came with the refusal (a host); absent for every other answer.
   */
  readonly filtered?: boolean;
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

/** The kernel's neighbour-table answer for an address: the MAC, or undefined. */
async function neighbourTable(address: string): Promise<string | undefined> {
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

const NOT_PROBED: ProbeResult = { answered: false, how: 'not probed' };

/**
 * The real prober: TCP to the port, then the neighbour table; at most about `timeoutMs`. Addresses
 * outside `scope` are never sent a packet; with scope `none` there is no prober at all.
 * `neighbour` reads the kernel's table unless a test gives its own.
 */
export function addressProber(
  timeoutMs: number,
  scope: ProbeScope,
  neighbour: (address: string) => Promise<string | undefined> = neighbourTable,
): Prober | undefined {
  if (scope === 'none') return undefined;
  const inScope = scopeFilter(scope);
  return async (address, port) => {
    if (!inScope(address)) return NOT_PROBED;
    const before = await neighbour(address);
    const answer = await tcp(address, port, timeoutMs);
    if (answer === 'accepted') return { answered: true, how: `TCP ${port} accepted a connection` };
    const mac = before ? undefined : await neighbour(address);
    const resolved = mac ? `${isIPv4(address) ? 'ARP' : 'NDP'}: ${mac} answers for it` : undefined;
    if (answer === 'refused') {
      return resolved
        ? { answered: true, filtered: false, how: `a host refused TCP ${port} (its RST); ${resolved}` }
        : {
            answered: true,
            filtered: true,
            how: `TCP ${port} refused: a host's RST, or maybe a firewall's REJECT (no neighbour answer tells them apart)`,
          };
    }
    return resolved ? { answered: true, how: resolved } : SILENT;
  };
}

/** Which addresses may be probed: `all`, `none`, or CIDRs (e.g. only the on-prem ranges). */
export type ProbeScope = 'all' | 'none' | readonly string[];

/** Whether `cidr` is one (`10.0.0.0/24`, `fd00::/64`); config.ts refuses a flag otherwise. */
export function isCidr(cidr: string): boolean {
  const [ip = '', bits = '', extra] = cidr.split('/');
  const width = isIPv4(ip) ? 32 : isIPv6(ip) ? 128 : 0;
  return width > 0 && extra === undefined && /^\d+$/.test(bits) && Number(bits) <= width;
}

const family = (address: string): 'ipv4' | 'ipv6' => (isIPv4(address) ? 'ipv4' : 'ipv6');

/** Whether an address is in scope, decided by Node's own subnet matching (net.BlockList). */
function scopeFilter(scope: ProbeScope): (address: string) => boolean {
  if (scope === 'all' || scope === 'none') return () => scope === 'all';
  const list = new BlockList();
  for (const cidr of scope) {
    const [ip = '', bits] = cidr.split('/');
    list.addSubnet(ip, Number(bits), family(ip));
  }
  return (address) => list.check(address, family(address));
}

/** Whether `address` falls inside `cidr` (IPv4 or IPv6; another family never does). */
export const inCidr = (address: string, cidr: string): boolean => scopeFilter([cidr])(address);

export const inScope = (scope: ProbeScope, address: string): boolean => scopeFilter(scope)(address);
