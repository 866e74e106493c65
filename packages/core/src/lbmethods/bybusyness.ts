/**
 * `bybusyness`: the member with the fewest requests in flight (mod_lbmethod_bybusyness.c).
 * Open WebSocket connections count as in flight. Ties are broken as Apache does, by the
 * byrequests score: every candidate gains its factor, among the least busy the highest
 * `lbStatus` wins (then the earlier one), and the winner pays the total. So equally idle
 * members rotate as with byrequests, weights included.
 */
import type { LbCandidate, MemberState } from '../members.js'
import { stickyHit } from './accounting.js'
import type { LbMethod } from './lb-method.js'

export const bybusyness: LbMethod = {
  name: 'bybusyness',

  pick (candidates: readonly LbCandidate[]): LbCandidate {
    let total = 0
    let best: MemberState | undefined
    for (const c of candidates) {
      const m = c as MemberState
      m.lbStatus += m.lbFactor
      total += m.lbFactor
      if (best === undefined || m.busy < best.busy || (m.busy === best.busy && m.lbStatus > best.lbStatus)) best = m
    }
    const winner = best as MemberState
    winner.lbStatus -= total
    return winner
  },

  stickyHit
}
