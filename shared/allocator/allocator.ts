import type { Cluster, IPAddress, IPAddressClaim } from '../kube/types.js';
import { ref } from '../cluster.js';
import type { Prober, ProbeResult } from '../in-use-probe.js';
import {
  ANNOTATION_ADDRESS_IN_USE,
  LABEL_ADDRESS_IN_USE,
  LABEL_ADDRESS_KEY,
  LABEL_CLUSTER_CLASS,
  LABEL_ROLE,
  type Family,
  type Role,
} from '../vip.js';
import { keepsReserve, samePool, type ReserveView } from './reserve.js';
import {
  claimName,
  clusterOwnerReference,
  clusterOwners,
  isInUse,
  newClaim,
  ownership,
  type Slot,
} from './claims.js';
import { heldFor, isQuarantined } from '../quarantine.js';
import { addressKey, carries, carriesLabel, isKeyed, twinOf } from './duplicates.js';
import { freeAddresses, maybeRoom, poolRef, rankPools, saysFull, type Candidate } from './pools.js';
import { ClaimQuarantine, type Held } from './claim-quarantine.js';
import { PoolKinds } from './pool-kinds.js';
import { ReserveAdoption } from './reserve-adoption.js';
import type { Watched } from './watched.js';
import type { PoolKind } from '../kube/gvk.js';
import type { Store } from '../kube/store.js';

export type Allocation =
  | {
      readonly state: 'allocated';
      readonly address: string;
      /** The pool's prefix length, when the IPAM provider gave one. */
      readonly prefix?: number;
      readonly claim: IPAddressClaim;
    }
  | {
      readonly state: 'pending';
      readonly reason:
        | 'binding'
        | 'exhausted'
        | 'duplicate'
        | 'releasing'
        | 'pool-gone'
        | 'quarantined'
        | 'in-use'
        | 'all-in-use'
        | 'probe-filtered';
      readonly message: string;
      /** The claim waited on (binding, exhausted): a later wait starts from it without reading it again. */
      readonly claim?: IPAddressClaim;
    }
  | { readonly state: 'no-pool'; readonly message: string };

/** A claim of the Cluster's name that another Cluster owns or names. */
export class ClaimConflictError extends Error {
  constructor(
    readonly claim: IPAddressClaim,
    cluster: Cluster,
  ) {
    const [owner] = clusterOwners(claim);
    super(
      `IPAddressClaim ${ref(claim)} belongs to another Cluster ` +
        `(${owner ? `owner ${owner.name} uid ${owner.uid}` : `spec.clusterName ${claim.spec.clusterName ?? '(none)'}`}), ` +
        `not to Cluster ${ref(cluster)} uid ${cluster.metadata.uid ?? '(none)'}`,
    );
    this.name = 'ClaimConflictError';
  }
}

export interface AllocatorOptions {
  readonly poolKinds: readonly PoolKind[];
  /** Asked before an address is allocated: does something already answer on it? */
  readonly prober?: Prober | undefined;
  /** The control-plane port probed when the Cluster names none. */
  readonly defaultPort?: number;
  /** Adopt pre-bound claims from pools that keep a reserve, as this view shows them (reserve-adoption.ts). */
  readonly reserve?: ReserveView | undefined;
  /** The process's watches (with the reserve): reads whose staleness is safe are taken from them. */
  readonly watched?: Watched | undefined;
}

/**
 * A slot's claim as read: the first of its names whose address was not found in use or, when there
 * is none, which of its names a claim still to be made takes.
 */
export type SlotClaim =
  | { readonly claim: IPAddressClaim; readonly attempt?: number }
  | { readonly claim?: undefined; readonly attempt: number };

/** Claims in a row that found their address in use before a Cluster stops claiming and says so. */
export const MAX_IN_USE = 5;
/**
 * Addresses in a row found in use, the last of them only by a refusal, before a Cluster stops
 * burning them: a firewall that REJECTs the port refuses for every address, as a host would
 * (shared/in-use-probe.ts).
 */
export const MAX_FILTERED = 3;
const INGRESS_PROBE_PORT = 443;

/**
 * Claims VIPs from IPAM pools for Clusters. Shared by the BeforeClusterCreate hook (which
 * allocates) and the legacy reconciler (which sets owners and writes a late ingress VIP); all
 * Kubernetes I/O goes through the Store. Adopting from a reserve and quarantine are delegated to
 * reserve-adoption.ts and claim-quarantine.ts.
 */
export class Allocator {
  readonly #store: Store;
  readonly #pools: PoolKinds;
  readonly #prober: Prober | undefined;
  readonly #defaultPort: number;
  /** Without a reserve's view (no --claim-reserve), nothing is adopted. */
  readonly #reserve: ReserveAdoption | undefined;
  readonly #quarantine: ClaimQuarantine;
  readonly #watched: Watched | undefined;

  constructor(store: Store, options: AllocatorOptions) {
    this.#store = store;
    this.#pools = new PoolKinds(store, options.poolKinds);
    this.#prober = options.prober;
    this.#defaultPort = options.defaultPort ?? 6443;
    this.#reserve = options.reserve && new ReserveAdoption(store, options.reserve);
    this.#watched = options.watched;
    this.#quarantine = new ClaimQuarantine(
      store,
      this.#pools,
      async (cluster, slot) => (await this.claimOf(cluster, slot)).claim,
    );
  }

  /** Pools that match the class and role, best first (see rankPools), and where they were looked for. */
  async search(
    namespace: string,
    className: string,
    role: Role,
    family?: Family,
  ): Promise<{ ranked: Candidate[]; searched: string }> {
    const { kinds } = this.#pools;
    const lists = await Promise.all(
      kinds.map(async (kind) => ({ kind, list: await this.#store.listPools(kind, namespace) })),
    );
    const candidates = lists.flatMap(({ kind, list }) =>
      (list?.pools ?? []).map((pool): Candidate => ({ pool, kind, namespaced: list?.namespaced ?? false })),
    );
    const searched = lists
      .map(({ kind, list }) =>
        !list
          ? `${kind.kind} (not served)`
          : list.namespaced
            ? `${kind.kind} in namespace ${namespace}`
            : `${kind.kind} (cluster-wide)`,
      )
      .join(', ');
    return { ranked: rankPools(candidates, className, role, kinds, family), searched };
  }

  /** Names the class, role, family, labels and places searched, for the Cluster's condition and Events. */
  noPoolMessage(searched: string, className: string, role: Role, family?: Family): string {
    return (
      `No ${family ? `${family} ` : ''}IP pool for ClusterClass ${className} and role ${role}: searched ${searched} for labels ` +
      `${LABEL_CLUSTER_CLASS}=${className} and ${LABEL_ROLE}=${role} (or a label value "true" with ` +
      `the name in the comma-separated annotation of the same key)`
    );
  }

  /**
   * Walks the slot's claim names past those keeping an in-use address out (rarely more than one
   * GET), from name `from` on. A claim adopted from a reserve is not among them: allocate looks
   * for it where there is a reserve, and quarantine always. `cached`: from the claims' watch where
   * it can say, for a caller that a claim made a moment ago and not seen yet cannot mislead (its
   * create then finds the name taken and reads it live).
   */
  async claimOf(
    cluster: Cluster,
    slot: Slot,
    { from = 0, cached = false }: { from?: number; cached?: boolean } = {},
  ): Promise<SlotClaim> {
    const { namespace } = cluster.metadata;
    for (let attempt = from; ; attempt++) {
      const name = claimName(slot, cluster.metadata.name, attempt);
      const held = cached ? this.#watched?.claim(namespace, name) : undefined;
      const claim = held === undefined ? await this.#store.getClaim(namespace, name) : (held ?? undefined);
      if (!claim || !isInUse(claim) || attempt >= MAX_IN_USE) return { claim, attempt };
    }
  }

  /** Reserve claims serve a slot's first claim, never a dual-stack pair's second. */
  #reserveFor(slot: Slot): ReserveAdoption | undefined {
    return slot.secondary ? undefined : this.#reserve;
  }

  /** Whether the Cluster adopted a reserve claim for the slot's role, even one found in use. */
  adoptedAny(cluster: Cluster, slot: Slot): boolean {
    return this.#reserve?.adoptedAny(cluster, slot) ?? false;
  }

  /**
   * Gives back a claim allocated for a Cluster that will not carry its address (another write won
   * the Cluster first), only as it was read: the pool has its address again.
   */
  async giveBack(claim: IPAddressClaim): Promise<boolean> {
    return this.#store.deleteClaim(claim, { unchanged: true });
  }

  /** Makes the Cluster the claim's owner if it has none; a claim of another Cluster is an error. */
  async ensureOwner(claim: IPAddressClaim, cluster: Cluster): Promise<IPAddressClaim> {
    switch (ownership(claim, cluster)) {
      case 'owned':
        return claim;
      case 'foreign':
        throw new ClaimConflictError(claim, cluster);
      case 'unowned':
        return this.#store.patchClaim(claim, {
          ownerReferences: [...(claim.metadata.ownerReferences ?? []), clusterOwnerReference(cluster)],
        });
    }
  }

  /**
   * Ensures the Cluster's claim (created in the best matching pool, or adopted) and waits up to
   * `waitMs` for the IPAM provider to bind it (on the store's watch: no request while waiting), less
   * if `signal` aborts (the hook call it serves was given up). `read`: the slot's claim as the
   * caller already read it (see claimOf), so it is not read again.
   */
  async allocate(
    cluster: Cluster,
    className: string,
    slot: Slot,
    { waitMs = 0, read, signal }: { waitMs?: number; read?: SlotClaim; signal?: AbortSignal } = {},
  ): Promise<Allocation> {
    const namespace = cluster.metadata.namespace;
    // A claim in use is walked past again: its next name is the one to claim under.
    const current =
      read && !(read.claim && isInUse(read.claim))
        ? read
        : await this.claimOf(cluster, slot, { from: read?.attempt ?? 0 });
    let claim = current.claim;
    const name = claimName(slot, cluster.metadata.name, current.attempt);
    if (claim && isInUse(claim)) return this.#allInUse(claim, (current.attempt ?? 0) + 1);
    if (!claim) {
      // The provider names the IPAddress after the claim: one left by a released claim would be
      // bound again to the new claim, address and all.
      const { ranked, searched } = await this.search(namespace, className, slot.role, slot.family);
      const [best] = ranked;
      if (!best) {
        return { state: 'no-pool', message: this.noPoolMessage(searched, className, slot.role, slot.family) };
      }
      // From a matching pool that keeps a reserve: the claim this Cluster adopted already, else one
      // adopted now (a reserve holds its pool's free addresses, so that pool may rank last). After
      // an address found in use (its own claim's or an adopted one's), the next comes from there too.
      const reserve = this.#reserveFor(slot);
      const reservePool = reserve && ranked.find((c) => keepsReserve(c.pool));
      const reserved =
        reserve && reservePool ? await reserve.adopt(cluster, slot, poolRef(reservePool)) : undefined;
      if (reserved) {
        claim = reserved;
      } else {
        // Read only once there is a pool to claim from: a slot without one (most ingress) costs no GET.
        const leftover = await this.#store.getAddress(namespace, name);
        if (leftover) return this.#releasing(leftover);
        // Another replica or an earlier call may win the create; then its claim is the one.
        claim =
          (await this.#store.createClaim(newClaim(cluster, slot, poolRef(best), current.attempt))) ??
          (await this.#store.getClaim(namespace, name));
        if (!claim) throw new Error(`IPAddressClaim ${namespace}/${name} vanished`);
      }
    }
    return this.#settle(cluster, className, slot, claim, current.attempt ?? 0, { waitMs, signal });
  }

  /**
   * For a Cluster being created (the admission webhook): a claim adopted from the reserve of the
   * class's pool, settled as `allocate` settles it, so an address found twice or in use is not
   * published; undefined when the pool keeps no reserve, it has no bound claim free, or the
   * Cluster's own claim exists already (the hook's, then). Never claims from the pool itself.
   */
  async adoptAtCreate(cluster: Cluster, className: string, slot: Slot): Promise<Allocation | undefined> {
    const reserve = this.#reserveFor(slot);
    if (!reserve) return undefined;
    const { ranked } = await this.search(cluster.metadata.namespace, className, slot.role, slot.family);
    const reservePool = ranked.find((c) => keepsReserve(c.pool));
    if (!reservePool) return undefined;
    // Nothing free and nothing adopted by an earlier create of the name, or a live Cluster of the
    // name (the create will be refused): no read is worth making.
    const pool = poolRef(reservePool);
    if (!reserve.hasFree(cluster.metadata.namespace, pool) && !reserve.adoptedAny(cluster, slot))
      return undefined;
    if (reserve.ownedByName(cluster, slot)) return undefined;
    // The Cluster does not exist yet: a claim of its own name could only be one made for an earlier
    // Cluster of the name, which the watch saw long ago.
    const current = await this.claimOf(cluster, slot, { cached: true });
    if (current.claim) return undefined;
    const claim = await reserve.adopt(cluster, slot, pool);
    return claim && this.#settle(cluster, className, slot, claim, current.attempt, {});
  }

  /** A claim of the Cluster's, to its address: checked for quarantine, duplicates and use first. */
  async #settle(
    cluster: Cluster,
    className: string,
    slot: Slot,
    found: IPAddressClaim,
    attempt: number,
    { waitMs = 0, signal }: { waitMs?: number; signal?: AbortSignal },
  ): Promise<Allocation> {
    let claim = found;
    const namespace = cluster.metadata.namespace;
    if (claim.metadata.deletionTimestamp) return this.#releasing(claim);
    // An earlier Cluster of this name held it: its address stays out of circulation until released.
    if (isQuarantined(claim)) {
      return {
        state: 'pending',
        reason: 'quarantined',
        message:
          `IPAddressClaim ${ref(claim)} holds the VIP of an earlier Cluster ${ref(cluster)} in quarantine ` +
          `${heldFor(claim)}; this Cluster claims once it is released (deleting the claim releases it now)`,
      };
    }
    // A Cluster being admitted has no uid to own by yet: the reserve reconciler sets it (admittedFate).
    if (cluster.metadata.uid) claim = await this.ensureOwner(claim, cluster);

    claim = await this.#store.waitForClaim(claim, (c) => Boolean(c.status?.addressRef?.name), waitMs, signal);
    // Read again after the wait: a claim being deleted meanwhile is not published.
    if (claim.metadata.deletionTimestamp) return this.#releasing(claim);
    const addressName = claim.status?.addressRef?.name;
    const address = addressName
      ? (this.#watched?.address(namespace, addressName) ??
        (await this.#store.getAddress(namespace, addressName)))
      : undefined;
    if (address?.spec.address && !address.metadata.deletionTimestamp) {
      const twin = await this.#twin(address);
      if (twin) return this.#duplicate(cluster, claim, address, { twin });
      const carrier = await this.#carrier(cluster, address.spec.address);
      if (carrier) return this.#duplicate(cluster, claim, address, { carrier });
      const answer = await this.#probe(cluster, slot, address.spec.address);
      if (answer?.filtered && attempt + 1 >= MAX_FILTERED) {
        return this.#filtered(claim, address.spec.address, answer.how, attempt + 1);
      }
      if (answer?.answered) return this.#inUse(claim, address.spec.address, answer.how);
      const { prefix } = address.spec;
      return { state: 'allocated', address: address.spec.address, ...(prefix ? { prefix } : {}), claim };
    }
    return this.#pending(cluster, className, slot, claim);
  }

  /** Before CAPI deletes the Cluster: holds its claims in quarantine (see ClaimQuarantine.hold). */
  quarantine(cluster: Cluster, graceSeconds: number): Promise<Held[]> {
    return this.#quarantine.hold(cluster, graceSeconds);
  }

  /**
   * Another IPAddress of ours holding this one's address, whatever its pool and namespace (two
   * pools over one range hand out the same addresses), read live after labelling it (see twinOf).
   * An address labelled before it was read (a reserve's: the reserve labels its addresses as they
   * bind) is looked for in the addresses' watch instead, which holds every twin labelled before it.
   */
  async #twin(address: IPAddress): Promise<IPAddress | undefined> {
    const key = addressKey(address);
    if (!isKeyed(address)) {
      await this.#store.labelAddress(address, LABEL_ADDRESS_KEY, key);
    } else {
      const held = this.#watched?.twinsOf(address);
      if (held) return twinOf(address, held);
    }
    return twinOf(address, await this.#store.listAddresses(undefined, LABEL_ADDRESS_KEY, key));
  }

  /**
   * The claim's address is another IPAddress's too. Unless the Cluster carries it already (another
   * replica or a background write published it: then the twin yields), it is never published: from
   * the same pool (the provider handed one address out twice) the claim is given back and claimed
   * again; from another pool (two pools over one range) it would be handed out again, so the claim
   * keeps it out of circulation, as an address in use does, and the Cluster claims the next.
   */
  async #duplicate(
    cluster: Cluster,
    claim: IPAddressClaim,
    address: IPAddress,
    holder: { readonly twin: IPAddress } | { readonly carrier: Cluster },
  ): Promise<Allocation> {
    const ip = address.spec.address;
    const live = await this.#store.getCluster(cluster.metadata.namespace, cluster.metadata.name);
    if (live && live.metadata.uid === cluster.metadata.uid && carries(live, ip)) {
      const { prefix } = address.spec;
      return { state: 'allocated', address: ip, ...(prefix ? { prefix } : {}), claim };
    }
    const ours = `${claim.spec.poolRef.kind} ${claim.spec.poolRef.name}`;
    // (List items come without kind: which holder it is, is said by the caller.)
    const twin = 'twin' in holder ? holder.twin : undefined;
    const theirs =
      'twin' in holder
        ? `IPAddress ${ref(holder.twin)} of ${holder.twin.spec.poolRef.kind} ${holder.twin.spec.poolRef.name}`
        : `Cluster ${ref(holder.carrier)}, which no IPAddress backs (its pool deleted by force, or set by hand)`;
    const found = `${ours} bound IPAddressClaim ${ref(claim)} to ${ip}, which ${theirs} also holds`;
    // One pool: the same ref and, for a namespaced kind, the same namespace (a template's pool copied
    // into two namespaces keeps its name). Then the provider handed it out twice: give it back.
    const onePool =
      twin !== undefined &&
      samePool(claim.spec.poolRef, twin.spec.poolRef) &&
      ((await this.#pools.scopeOf(twin.spec.poolRef, address.metadata.namespace)) === undefined ||
        twin.metadata.namespace === address.metadata.namespace);
    if (onePool) {
      // Only as read: bound to it, it was read so; changed since, the next call looks again.
      if (!(await this.#store.deleteClaim(claim, { unchanged: true }))) return this.#changed(claim);
      return {
        state: 'pending',
        reason: 'duplicate',
        message: `${found}: released the claim to claim again`,
      };
    }
    // Its pool would hand the address out again: the claim keeps it out, as an address in use.
    await this.#store.patchClaim(claim, {
      labels: { [LABEL_ADDRESS_IN_USE]: 'duplicate' },
      annotations: { [ANNOTATION_ADDRESS_IN_USE]: `${ip}: also held by ${theirs}` },
    });
    return {
      state: 'pending',
      reason: 'duplicate',
      message:
        `${found}: ${twin ? 'the pools overlap' : 'its pool no longer knows it is taken'}. ` +
        `The claim keeps ${ip} out of ${ours}, and the next address is claimed` +
        (twin ? `; make the pools' ranges disjoint` : ''),
    };
  }

  /**
   * Another Cluster carrying the address (by the label every publication sets), whether or not an
   * IPAddress still holds it: a pool deleted by force and made again hands out addresses its old
   * IPAddresses held, and a host set by hand is held by none.
   */
  async #carrier(cluster: Cluster, address: string): Promise<Cluster | undefined> {
    const carriers =
      this.#watched?.carriers(address) ?? (await this.#store.listClusters(undefined, carriesLabel(address)));
    return carriers.find((c) => c.metadata.uid !== cluster.metadata.uid && carries(c, address));
  }

  /** What the probe saw on the address (control-plane VIPs on their endpoint port, ingress on 443). */
  async #probe(cluster: Cluster, slot: Slot, address: string): Promise<ProbeResult | undefined> {
    if (!this.#prober) return undefined;
    const port =
      slot.role === 'ingress'
        ? INGRESS_PROBE_PORT
        : cluster.spec?.controlPlaneEndpoint?.port || this.#defaultPort;
    return this.#prober(address, port);
  }

  /**
   * Addresses in a row found in use, this one only by a refusal: a firewall that REJECTs the port
   * looks like that too. The address is not burned; the Cluster is told, and waits for a person.
   */
  #filtered(claim: IPAddressClaim, address: string, how: string, count: number): Allocation {
    return {
      state: 'pending',
      reason: 'probe-filtered',
      message:
        `${count} addresses in a row of ${claim.spec.poolRef.kind} ${claim.spec.poolRef.name} were found in use, ` +
        `the last only by a refusal (${address}: ${how}); a firewall's REJECT looks the same, so the probe may be ` +
        `filtered: IPAddressClaim ${ref(claim)} is kept unpublished. Free the address, or turn the probe off ` +
        `(--probe-addresses=none) or narrow it to ranges it can see`,
    };
  }

  /**
   * The address already answers: the claim stays (owned by the Cluster, so it goes with it) and
   * keeps the address out of circulation; the Cluster's next call claims under its next name.
   */
  async #inUse(claim: IPAddressClaim, address: string, how: string): Promise<Allocation> {
    const seen = `${address}: ${how} (probed ${new Date().toISOString()})`;
    await this.#store.patchClaim(claim, {
      labels: { [LABEL_ADDRESS_IN_USE]: 'true' },
      annotations: { [ANNOTATION_ADDRESS_IN_USE]: seen },
    });
    return {
      state: 'pending',
      reason: 'in-use',
      message:
        `${claim.spec.poolRef.kind} ${claim.spec.poolRef.name} handed out ${address}, and something already answers ` +
        `on it (${how}): IPAddressClaim ${ref(claim)} keeps it out of circulation, and the next address is claimed`,
    };
  }

  #allInUse(claim: IPAddressClaim, count: number): Allocation {
    return {
      state: 'pending',
      reason: 'all-in-use',
      message:
        `${count} addresses ${claim.spec.poolRef.kind} ${claim.spec.poolRef.name} handed out already answer ` +
        `(the last: ${claim.metadata.annotations?.[ANNOTATION_ADDRESS_IN_USE] ?? '?'}); free them or exclude them ` +
        `from the pool, then delete their claims (label ${LABEL_ADDRESS_IN_USE})`,
    };
  }

  /** A give-back refused: the claim changed since it was read (bound, most likely). The next call reads it. */
  #changed(claim: IPAddressClaim): Allocation {
    return {
      state: 'pending',
      reason: 'binding',
      message: `IPAddressClaim ${ref(claim)} changed while it was being given back (bound?): kept, looking again`,
      claim,
    };
  }

  #releasing(obj: IPAddressClaim | IPAddress): Allocation {
    return {
      state: 'pending',
      reason: 'releasing',
      message: `Waiting for ${obj.kind} ${ref(obj)} to be released before claiming again`,
    };
  }

  async #pending(
    cluster: Cluster,
    className: string,
    slot: Slot,
    claim: IPAddressClaim,
  ): Promise<Allocation> {
    const pool = claim.spec.poolRef;
    const kind = this.#pools.kindOf(pool);
    const listed = kind ? await this.#store.listPools(kind, cluster.metadata.namespace) : undefined;
    const found = listed?.pools.find((p) => p.metadata.name === pool.name);
    if (listed && !found) {
      // The provider never binds (nor looks again at) a claim whose pool is gone: give it back, and
      // the next call claims from a pool that serves the Cluster now.
      if (!(await this.#store.deleteClaim(claim, { unchanged: true }))) return this.#changed(claim);
      return {
        state: 'pending',
        reason: 'pool-gone',
        message:
          `${pool.kind} ${pool.name} of IPAddressClaim ${ref(claim)} is gone: the claim was given back, to claim ` +
          `from a pool that serves the Cluster now`,
      };
    }
    if (found && saysFull(found)) {
      const total = found.status?.ipAddresses?.total ?? 0;
      const held = await this.#quarantine.heldOn(pool, cluster.metadata.namespace);
      // Waiting on a full pool while another matching one has room: give the unbound claim back, and
      // the next call claims from the pool with room (the uid guard never deletes a newer claim).
      // Waiting on a full pool whose reserve holds a bound claim free: give the unbound claim back,
      // and the next call adopts (the reserve took the addresses it would have had).
      // Each give-back is guarded by the version read: a claim the provider bound a moment ago is kept.
      if (
        !claim.status?.addressRef?.name &&
        keepsReserve(found) &&
        this.#reserveFor(slot)?.hasFree(cluster.metadata.namespace, pool)
      ) {
        if (!(await this.#store.deleteClaim(claim, { unchanged: true }))) return this.#changed(claim);
        return {
          state: 'pending',
          reason: 'releasing',
          message:
            `IPAddressClaim ${ref(claim)} was waiting on full pool ${pool.name}: given back to adopt a claim ` +
            `its reserve holds bound`,
        };
      }
      const { ranked } = await this.search(cluster.metadata.namespace, className, slot.role, slot.family);
      // From a pool that says 0 free, a shrunk one (that may have room in its range) is worth a try;
      // from a shrunk one, only a pool that says it has room (no claim goes back and forth). A pool
      // whose reserve holds a bound claim free has room, though it says 0 free: the reserve took
      // its free addresses, and the next call adopts one (never back: an adopted claim is bound).
      const fromShrunk = maybeRoom(found);
      const reserve = this.#reserveFor(slot);
      const roomy = ranked.find(
        (c) =>
          c.pool.metadata.name !== pool.name &&
          ((freeAddresses(c.pool) ?? 0) > 0 ||
            (!fromShrunk && maybeRoom(c.pool)) ||
            (keepsReserve(c.pool) && reserve?.hasFree(cluster.metadata.namespace, poolRef(c)) === true)),
      );
      if (roomy && !claim.status?.addressRef?.name) {
        if (!(await this.#store.deleteClaim(claim, { unchanged: true }))) return this.#changed(claim);
        return {
          state: 'pending',
          reason: 'releasing',
          message:
            `IPAddressClaim ${ref(claim)} was waiting on full pool ${pool.name}: given back to claim again ` +
            `from ${roomy.kind.kind} ${roomy.pool.metadata.name} (` +
            (maybeRoom(roomy.pool)
              ? 'shrunk, it may have room in its range)'
              : `${freeAddresses(roomy.pool) ?? 'some'} free)`),
        };
      }
      return {
        state: 'pending',
        reason: 'exhausted',
        message:
          `IPAddressClaim ${ref(claim)} is waiting: pool ${pool.name} has no free address (0 of ${total}` +
          (held.length
            ? `, ${held.length} of them held in quarantine after their Clusters' deletion, the first ${heldFor(held[0] as IPAddressClaim)})`
            : ')'),
        claim,
      };
    }
    return {
      state: 'pending',
      reason: 'binding',
      message: `Waiting for ${pool.kind} ${pool.name} to bind IPAddressClaim ${ref(claim)}`,
      claim,
    };
  }
}
