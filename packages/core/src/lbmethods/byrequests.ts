/**
 * `byrequests`: Apache's smooth weighted round robin (mod_lbmethod_byrequests.c).
 *
 * For each candidate: `lbStatus += lbFactor`, `total += lbFactor`; the candidate with the
 * highest `lbStatus` wins (ties go to the earlier one); then `winner.lbStatus -= total`.
 * With weights 1, 1, 2 this gives c, a, b, c, c, a, b, c, ...
 */
import type { LbCandidate, MemberState } from '../members.js'
import { stickyHit } from './accounting.js'
import type { LbMethod } from './lb-method.js'

export const byrequests: LbMethod = {
  name: 'byrequests',

  pick (candidates: readonly LbCandidate[]): LbCandidate {
    let total = 0
    let best: MemberState | undefined
    for (const c of candidates) {
      const m = c as MemberState
      m.lbStatus += m.lbFactor
      total += m.lbFactor
      if (best === undefined || m.lbStatus > best.lbStatus) best = m
    }
    // candidates is never empty (the balancer checks), so best is set.
    const winner = best as MemberState
    winner.lbStatus -= total
    return winner
  },

  stickyHit
}
