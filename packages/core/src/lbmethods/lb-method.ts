/**
 * The load-balancing method interface: how a member is picked for a client without a usable
 * route. The built-in methods are Apache's `byrequests`, `bybusyness` and `bytraffic`; an
 * application may pass an object of its own as `lbMethod`.
 */
import type { LbCandidate } from '../members.js'

/** A load-balancing method: picks one member for a client without a usable route. */
export interface LbMethod {
  /** Its name, shown in logs and `balancer.lbMethod` (Apache `lbmethod`). */
  readonly name: string
  /**
   * Picks among `candidates` and returns one of them (the same object). `candidates` is never
   * empty, holds only members that may take new clients, in configured order, all of one tier
   * (the lowest `lbSet` with a usable member; hot standbys only when no normal member of that
   * tier is usable). Returning anything else throws `ERR_STICKY_LB_METHOD`.
   */
  pick (candidates: readonly LbCandidate[]): LbCandidate
  /**
   * Optional accounting for a sticky hit on `chosen` (a client whose route named it), given every
   * usable member. Apache's built-in methods count sticky requests this way.
   */
  stickyHit? (chosen: LbCandidate, usable: readonly LbCandidate[]): void
}

/** The built-in method names. */
export type LbMethodName = 'byrequests' | 'bybusyness' | 'bytraffic'
