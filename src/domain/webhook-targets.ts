/**
 * Where a webhook may send: the rules that keep an admin-configured URL from turning the server into
 * a proxy into its own network (SSRF). Only public unicast addresses are reached by default; loopback,
 * private, shared (CGNAT), link-local, unique-local, unspecified, multicast, broadcast and reserved
 * addresses are refused, IPv4-mapped and NAT64 IPv6 forms included, and so are cloud metadata
 * services. An allow list (OVERAIR_WEBHOOK_ALLOW_HOSTS) opens named hosts or addresses for teams whose
 * receivers are internal.
 *
 * Pure rules, no DNS: the service checks a URL when a webhook is created, and the dispatcher checks
 * every address a name resolves to before it connects to exactly that address.
 *
 * Address classification is ipaddr.js's (its ranges follow the IANA special-purpose registries), not
 * range arithmetic of our own.
 */
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** Cloud instance metadata services, named in refusals because reaching one can leak credentials. */
const METADATA_ADDRESSES = [
  '169.254.169.254', // AWS, GCP, Azure, DigitalOcean, OpenStack...
  '169.254.170.2', // AWS ECS task metadata
  'fd00:ec2::254', // AWS over IPv6
  '100.100.100.200', // Alibaba Cloud
  '192.0.0.192', // Oracle Cloud
].map((text) => ipaddr.parse(text).toString());

const METADATA_NAMES = new Set([
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'instance-data',
  'instance-data.ec2.internal',
]);

/**
 * Suffixes of names that never point to the public internet: RFC 6761 `localhost`, mDNS `.local`,
 * ICANN's private-use `.internal`, RFC 8375 `.home.arpa`, and the common `.localdomain`.
 */
const INTERNAL_SUFFIXES = ['localhost', 'local', 'internal', 'home.arpa', 'localdomain'];

/** The only IPv6 addresses routed on the public internet (IANA global unicast). */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');
/** NAT64's well-known prefix (RFC 6052): the last 32 bits are the IPv4 address really reached. */
const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96');

const RANGE_TEXT: Record<string, string> = {
  unspecified: 'an unspecified address',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address',
  loopback: 'a loopback address',
  carrierGradeNat: 'a shared (CGNAT) address',
  private: 'a private address',
  uniqueLocal: 'a unique-local address',
};

/** A host as compared here: lower case, without IPv6 brackets or a trailing dot. */
export function normalizeHost(host: string): string {
  return host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.+$/, '');
}

/**
 * What keeps an address from being a webhook target ("a loopback address", "a cloud metadata
 * address", ...), or null for a public unicast address.
 */
export function publicAddressProblem(text: string): string | null {
  let address: Address;
  try {
    address = ipaddr.parse(normalizeHost(text));
  } catch {
    return 'not an IP address';
  }
  return problemOf(address);
}

function problemOf(address: Address): string | null {
  if (address.kind() === 'ipv6') {
    const v6 = address as ipaddr.IPv6;
    // ::ffff:127.0.0.1 is 127.0.0.1 to the socket; 64:ff9b::7f00:1 is 127.0.0.1 to a NAT64 gateway.
    if (v6.isIPv4MappedAddress()) return problemOf(v6.toIPv4Address());
    if (v6.match(NAT64_WELL_KNOWN)) return problemOf(ipaddr.fromByteArray(v6.toByteArray().slice(12)));
  }
  if (METADATA_ADDRESSES.includes(address.toString())) return 'a cloud metadata address';
  const range = address.range();
  if (range !== 'unicast') return RANGE_TEXT[range] ?? `a reserved address (${range})`;
  // ipaddr.js calls what it does not know "unicast"; for IPv6 that includes the deprecated
  // IPv4-compatible ::a.b.c.d, which is nowhere near the public internet.
  if (address.kind() === 'ipv6' && !address.match(GLOBAL_UNICAST_V6)) return 'a reserved address';
  return null;
}

/**
 * What makes a name obviously internal (one that public DNS never answers for a receiver), or null.
 * Whatever else it resolves to is checked at delivery.
 */
export function nameProblem(host: string): string | null {
  const name = normalizeHost(host);
  if (METADATA_NAMES.has(name)) return 'a cloud metadata name';
  if (INTERNAL_SUFFIXES.some((suffix) => name === suffix || name.endsWith(`.${suffix}`)))
    return 'an internal name';
  // A single label ("intranet", "db") is completed by the resolver's search domains: a local host.
  if (!name.includes('.')) return 'an internal name';
  return null;
}

const HOST_NAME =
  /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** One entry of the allow list: a host name, an address, or a range in CIDR notation. */
function allowEntryProblem(entry: string): string | null {
  const host = normalizeHost(entry);
  if (host.includes('/')) {
    return ipaddr.isValidCIDR(host) ? null : `"${entry}" is not a valid address range (e.g. 10.0.0.0/8)`;
  }
  if (ipaddr.isValid(host) || HOST_NAME.test(host)) return null;
  return `"${entry}" is not a host name, an address or an address range`;
}

/** The allow list's text (comma-separated), its entries checked; null when every entry is valid. */
export function allowListProblem(text: string): string | null {
  for (const entry of splitList(text)) {
    const problem = allowEntryProblem(entry);
    if (problem) return problem;
  }
  return null;
}

/** The allow list's entries, normalized: "hooks.internal, 10.0.0.5" -> ["hooks.internal", "10.0.0.5"]. */
export function parseAllowList(text: string | undefined): string[] {
  return splitList(text ?? '').map(normalizeHost);
}

const splitList = (text: string) =>
  text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);

/** Why a URL cannot be a webhook's: the API's error code and a message that can be shown. */
export interface TargetProblem {
  code: 'invalid_request' | 'webhook_target_refused';
  message: string;
  /** The same, short, for the delivery log ("127.0.0.1 is a loopback address"). */
  reason: string;
}

/** The rules with this server's allow list. */
export class WebhookTargetPolicy {
  private readonly names = new Set<string>();
  private readonly ranges: [Address, number][] = [];

  constructor(allowList: readonly string[] = []) {
    for (const entry of allowList.map(normalizeHost)) {
      if (entry.includes('/')) this.ranges.push(ipaddr.parseCIDR(entry));
      else if (ipaddr.isValid(entry)) {
        const address = ipaddr.process(entry);
        this.ranges.push([address, address.kind() === 'ipv4' ? 32 : 128]);
      } else this.names.add(entry);
    }
  }

  /**
   * What is wrong with a webhook URL before anything is resolved: a scheme other than http(s),
   * credentials, a refused literal address or an obviously internal name. Null when it may be tried.
   */
  urlProblem(url: URL): TargetProblem | null {
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      return {
        code: 'invalid_request',
        message: 'url: expected an http(s) URL',
        reason: 'not an http(s) URL',
      };
    // They would be sent to the receiver as Basic auth and shown in every listing: the signature is
    // how a receiver knows the sender.
    if (url.username || url.password) {
      return {
        code: 'invalid_request',
        message: 'url: must not contain a user name or password',
        reason: 'the URL contains credentials',
      };
    }
    const host = normalizeHost(url.hostname);
    if (this.names.has(host)) return null;
    const problem = ipaddr.isValid(host) ? this.addressProblem(host, host) : nameProblem(host);
    if (!problem) return null;
    const reason = `${host} is ${problem}`;
    return {
      code: 'webhook_target_refused',
      message: `url: ${reason}; webhooks only reach public addresses (list internal receivers in OVERAIR_WEBHOOK_ALLOW_HOSTS)`,
      reason,
    };
  }

  /**
   * Whether `host` may be reached at `address` (one it resolved to): a public address, or one the
   * allow list names by host or address. Returns the problem, or null.
   */
  addressProblem(host: string, address: string): string | null {
    if (this.names.has(normalizeHost(host))) return null;
    let parsed: Address;
    try {
      parsed = ipaddr.process(normalizeHost(address));
    } catch {
      return 'not an IP address';
    }
    if (this.ranges.some((range) => parsed.kind() === range[0].kind() && parsed.match(range))) return null;
    return problemOf(parsed);
  }
}
