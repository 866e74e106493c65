/**
 * The `lbstatus` arithmetic Apache's built-in methods share. Built-in methods get the
 * balancer's own member objects, which carry the mutable `lbStatus`.
 */
import type { LbCandidate, MemberState } from '../members.js'

/**
 * Apache's sticky-hit accounting (`proxy_balancer_pre_request`, for methods without
 * `updatelbstatus`): every usable member gains its factor, the routed one pays the total.
 * After 3 sticky hits on b (weights 1,1,1) new clients go a, c, a.
 */
export function stickyHit (chosen: LbCandidate, usable: readonly LbCandidate[]): void {
  let total = 0
  for (const c of usable) {
    const m = c as MemberState
    m.lbStatus += m.lbFactor
    total += m.lbFactor
  }
  (chosen as MemberState).lbStatus -= total
}
