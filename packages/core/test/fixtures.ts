/**
 * What the core's tests share: three members a, b, c (and a fourth URL), narrowing a decision,
 * the routes new clients get, and the status of an idle member.
 */
import type { Test } from 'tap'
import type { Balancer, Decision, MemberOptions, Routed } from '@stickyroute/core'

export const A = 'http://127.0.0.1:8081'
export const B = 'http://127.0.0.1:8082'
export const C = 'http://127.0.0.1:8083'
export const D = 'http://127.0.0.1:8084'
export const MEMBERS: MemberOptions[] = [{ url: A, route: 'a' }, { url: B, route: 'b' }, { url: C, route: 'c' }]

/** Narrows to a routed decision or fails the test. */
export function routed (t: Test, d: Decision, what = 'routed'): Routed {
  if (!d.ok) {
    t.fail(`${what}: expected a member, got 503 ${d.reason}`)
    throw new Error('not routed')
  }
  return d
}

/** Routes given to `n` new clients (no cookie, no URL), each request finished at once; `'503 reason'` when none. */
export function newClients (balancer: Balancer, n: number): string[] {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const d = balancer.select({})
    out.push(d.ok ? d.route : `503 ${d.reason}`)
    balancer.finished(d)
  }
  return out
}

/** The flags, status and counters of a member of weight 1 in tier 0 that has done nothing yet (without health check). */
export const IDLE_STATUS = Object.freeze({
  loadFactor: 1,
  lbSet: 0,
  disabled: false,
  draining: false,
  hotStandby: false,
  stopped: false,
  ignoreErrors: false,
  inError: false,
  healthCheckFailed: false,
  status: 'Ok',
  errorSince: undefined,
  elected: 0,
  busy: 0,
  requests: 0,
  failures: 0,
  bytesSent: 0,
  bytesReceived: 0,
  healthCheck: undefined
})
