/**
 * `bytraffic`: the member with the fewest bytes transferred, weighted (mod_lbmethod_bytraffic.c):
 * `(bytesSent + bytesReceived) / loadFactor`, the lowest wins, ties to the earlier member. A
 * member with twice the weight is given twice the traffic. (Apache divides each count by the
 * factor in integers; we divide the sum exactly, which only differs in rounding.)
 */
import type { LbCandidate } from '../members.js'
import type { LbMethod } from './lb-method.js'

export const bytraffic: LbMethod = {
  name: 'bytraffic',

  pick (candidates: readonly LbCandidate[]): LbCandidate {
    let best: LbCandidate | undefined
    let min = Infinity
    for (const m of candidates) {
      const traffic = (m.bytesSent + m.bytesReceived) / m.loadFactor
      if (best === undefined || traffic < min) {
        best = m
        min = traffic
      }
    }
    return best as LbCandidate
  }
  // No sticky-hit accounting: traffic is counted when requests finish, sticky or not.
}
