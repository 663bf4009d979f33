import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

/**
 * SSRF guard for deployments that take feed URLs from less trusted admins:
 * refuses to connect to loopback, private, link-local and other non-public
 * addresses. The check runs in the connection's DNS lookup, so a name that
 * resolves differently later (DNS rebinding) is checked again on every connect.
 */
const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  // Site-local, deprecated (RFC 3879) but still routed inside some networks.
  ['fec0::', 10],
  ['fe80::', 10],
  ['ff00::', 8],
  // Local-use NAT64 translates into the site's own IPv4 network.
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001:db8::', 32],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** The 16 bytes of an IPv6 address (already validated by isIP), dotted-quad tail included. */
function ipv6Bytes(address: string): number[] {
  let a = address.replace(/%.*$/, '').toLowerCase();
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (quad) {
    const [b0, b1, b2, b3] = quad.slice(1).map(Number) as [number, number, number, number];
    a = `${a.slice(0, quad.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head, tail] = a.includes('::') ? (a.split('::') as [string, string]) : [a, undefined];
  const groups = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = groups(head);
  const t = groups(tail);
  const words = tail === undefined ? h : [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

const v4 = (b: number[]) => b.join('.');
const zero = (b: number[], from: number, to: number) => b.slice(from, to).every((x) => x === 0);

/**
 * The IPv4 address an IPv6 address carries, for the forms a host or a
 * translator on the path turns back into IPv4: mapped (::ffff:a.b.c.d),
 * compatible (::a.b.c.d), SIIT-translated (::ffff:0:a.b.c.d), NAT64
 * (64:ff9b::a.b.c.d), 6to4 (2002:aabb:ccdd::) and Teredo (client address,
 * stored inverted). Without this, ::ffff:7f00:1 or 64:ff9b::a00:1 would reach
 * loopback or the private network through a "public" IPv6 address.
 */
export function embeddedIpv4(address: string): string | null {
  const b = ipv6Bytes(address);
  if (zero(b, 0, 10) && b[10] === 0xff && b[11] === 0xff) return v4(b.slice(12));
  if (zero(b, 0, 12)) return v4(b.slice(12));
  if (zero(b, 0, 8) && b[8] === 0xff && b[9] === 0xff && zero(b, 10, 12)) return v4(b.slice(12));
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(b, 4, 12)) return v4(b.slice(12));
  if (b[0] === 0x20 && b[1] === 0x02) return v4(b.slice(2, 6));
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0 && b[3] === 0) return v4(b.slice(12).map((x) => x ^ 0xff));
  return null;
}

export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 6) {
    if (blocked.check(address, 'ipv6')) return false;
    const inner = embeddedIpv4(address);
    return inner === null || !blocked.check(inner, 'ipv4');
  }
  return !blocked.check(address, 'ipv4');
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

function guardedLookup(hostname: string, options: object, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const list = addresses as LookupAddress[];
    const refused = list.find((a) => !isPublicAddress(a.address));
    if (refused) {
      const e = new Error(`refused to connect to ${hostname} (${refused.address}): not a public address`) as NodeJS.ErrnoException;
      e.code = 'EADDRNOTPUBLIC';
      return callback(e, []);
    }
    if ((options as { all?: boolean }).all) return callback(null, list);
    return callback(null, list[0]!.address, list[0]!.family);
  });
}

const agents = new Map<string, HttpAgent>();

function newAgent(protocol: string, publicOnly: boolean, keepAlive: boolean): HttpAgent {
  const options = { keepAlive, timeout: 4000, ...(publicOnly ? { lookup: guardedLookup as never } : {}) };
  return protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options);
}

/**
 * The connection pool feed fetches use, per scheme, with or without the guard. Connections
 * are kept alive between requests (many feeds share a host) and closed after 4 s idle;
 * idle ones never keep a process from exiting.
 */
export function feedAgent(protocol: string, publicOnly: boolean): HttpAgent {
  const key = `${protocol}${publicOnly ? 'public' : 'any'}`;
  let agent = agents.get(key);
  if (!agent) {
    agent = newAgent(protocol, publicOnly, true);
    agents.set(key, agent);
  }
  return agent;
}

/** An agent for one request on a new connection of its own (closed after it), with the same guard. */
export function oneOffFeedAgent(protocol: string, publicOnly: boolean): HttpAgent {
  return newAgent(protocol, publicOnly, false);
}
