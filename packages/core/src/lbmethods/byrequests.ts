/**
 * `byrequests`: Apache's smooth weighted round robin (mod_lbmethod_byrequests.c).
 *
 * For each candidate: `lbStatus += lbFactor`, `total += lbFactor`; the candidate with the
 * highest `lbStatus` wins (ties go to the earlier one); then `winner.lbStatus -= total`.
 * With weights 1, 1, 2 this gives c, a, b, c, c, a, b, c, ...
 */
import type { MemberState } from '../members.js'

/** A load-balancing method: picks one member for a client without a usable route. */
export interface LbMethod {
  /** The Apache `lbmethod` name. */
  readonly name: string
  /** Picks among `candidates` (all usable, never empty), updating its own accounting. */
  pick (candidates: readonly MemberState[]): MemberState
  /**
   * Accounting for a sticky hit on `chosen`, given every usable member. Optional: a method that
   * does not count sticky requests leaves it out.
   */
  stickyHit? (chosen: MemberState, usable: readonly MemberState[]): void
}

export const byrequests: LbMethod = {
  name: 'byrequests',

  pick (candidates) {
    let total = 0
    let best: MemberState | undefined
    for (const m of candidates) {
      m.lbStatus += m.lbFactor
      total += m.lbFactor
      if (best === undefined || m.lbStatus > best.lbStatus) best = m
    }
    // candidates is never empty (the balancer checks), so best is set.
    const winner = best as MemberState
    winner.lbStatus -= total
    return winner
  },

  // Apache counts sticky requests too: every usable member gains its factor, the routed one
  // pays the total. After 3 sticky hits on b (weights 1,1,1) new clients go a, c, a.
  stickyHit (chosen, usable) {
    let total = 0
    for (const m of usable) {
      m.lbStatus += m.lbFactor
      total += m.lbFactor
    }
    chosen.lbStatus -= total
  }
}
