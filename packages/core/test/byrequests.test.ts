/**
 * `lbmethod=byrequests`: Apache's smooth weighted round robin, as the spec's "Choosing a member"
 * describes it: pick sequences for new clients, weights, sticky accounting, failed members.
 */
import t from 'tap'
import fc from 'fast-check'
import { createBalancer, type Balancer, type MemberOptions } from '@stickyroute/core'
import { byrequests } from '../src/lbmethods/byrequests.js'
import { MemberState } from '../src/members.js'
import { resolveOptions, type ResolvedMember } from '../src/options.js'

const ROUTES = ['a', 'b', 'c', 'd', 'e']

function membersWith (loadFactors: ReadonlyArray<number | undefined>): MemberOptions[] {
  return loadFactors.map((loadFactor, i) => ({
    url: `http://127.0.0.1:${8081 + i}`,
    route: ROUTES[i] as string,
    ...(loadFactor === undefined ? {} : { loadFactor })
  }))
}

function balancerWith (loadFactors: ReadonlyArray<number | undefined>, clock = { now: 0 }): Balancer {
  return createBalancer({ members: membersWith(loadFactors), routeCookie: 'ROUTEID', now: () => clock.now })
}

/** Routes chosen for `n` new clients (no cookie, no URL). */
function newClients (balancer: Balancer, n: number): string[] {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const d = balancer.select({})
    out.push(d.ok ? d.route : `503:${d.reason}`)
    balancer.finished(d)
  }
  return out
}

function counts (routes: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const r of routes) out[r] = (out[r] ?? 0) + 1
  return out
}

interface SequenceRow {
  name: string
  loadFactors: ReadonlyArray<number | undefined>
  expected: string[]
}

const sequences: SequenceRow[] = [
  { name: 'one member', loadFactors: [undefined], expected: ['a', 'a', 'a'] },
  { name: 'two equal members alternate', loadFactors: [undefined, undefined], expected: ['a', 'b', 'a', 'b'] },
  { name: 'equal weights rotate a, b, c, a, b, c (ties to the earlier member)', loadFactors: [undefined, undefined, undefined], expected: ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c'] },
  { name: 'explicit equal weights behave like the default', loadFactors: [7, 7, 7], expected: ['a', 'b', 'c', 'a', 'b', 'c'] },
  { name: 'loadFactor 1, 1, 2 gives c, a, b, c repeating', loadFactors: [1, 1, 2], expected: ['c', 'a', 'b', 'c', 'c', 'a', 'b', 'c', 'c', 'a', 'b', 'c'] },
  { name: 'loadFactor 1.5, 1 gives a, b, a, b, a repeating', loadFactors: [1.5, 1], expected: ['a', 'b', 'a', 'b', 'a', 'a', 'b', 'a', 'b', 'a'] },
  { name: 'loadFactor 3, 1 gives a, a, b, a repeating', loadFactors: [3, 1], expected: ['a', 'a', 'b', 'a', 'a', 'a', 'b', 'a'] },
  { name: 'loadFactor 1, 3: the heavier later member wins first', loadFactors: [1, 3], expected: ['b', 'a', 'b', 'b', 'b', 'a', 'b', 'b'] }
]

t.test('byrequests: pick sequences for new clients', async t => {
  for (const row of sequences) {
    t.same(newClients(balancerWith(row.loadFactors), row.expected.length), row.expected, row.name)
  }
})

interface RatioRow {
  name: string
  loadFactors: number[]
  picks: number
  expected: Record<string, number>
}

const ratios: RatioRow[] = [
  { name: '1.5 : 1 over 500 picks', loadFactors: [1.5, 1], picks: 500, expected: { a: 300, b: 200 } },
  { name: '2.5 : 1 : 1.25 over 1900 picks', loadFactors: [2.5, 1, 1.25], picks: 1900, expected: { a: 1000, b: 400, c: 500 } },
  { name: '1.01 : 1 over 201 picks', loadFactors: [1.01, 1], picks: 201, expected: { a: 101, b: 100 } },
  { name: '100 : 1 over 101 picks', loadFactors: [100, 1], picks: 101, expected: { a: 100, b: 1 } },
  { name: '1 : 1 : 2 over 400 picks', loadFactors: [1, 1, 2], picks: 400, expected: { a: 100, b: 100, c: 200 } }
]

t.test('byrequests: weights (decimals too) give exact proportions over whole periods', async t => {
  for (const row of ratios) {
    t.same(counts(newClients(balancerWith(row.loadFactors), row.picks)), row.expected, row.name)
  }
})

t.test('byrequests: 3 sticky requests to member 2, then 3 new clients go to a, c, a', async t => {
  const balancer = balancerWith([undefined, undefined, undefined])
  for (let i = 0; i < 3; i++) {
    const d = balancer.select({ cookie: 'ROUTEID=.b' })
    t.ok(d.ok, `sticky request ${i + 1} routed`)
    if (d.ok) {
      t.equal(d.route, 'b', `sticky request ${i + 1} goes to b`)
      t.equal(d.routeChanged, false, `sticky request ${i + 1}: route unchanged`)
      t.equal(d.setCookie, undefined, `sticky request ${i + 1}: no cookie`)
    }
    balancer.finished(d)
  }
  t.same(newClients(balancer, 3), ['a', 'c', 'a'])
})

t.test('byrequests: sticky requests through the URL count too', async t => {
  const balancer = balancerWith([undefined, undefined, undefined])
  for (let i = 0; i < 3; i++) balancer.finished(balancer.select({ url: '/x?ROUTEID=.b' }))
  t.same(newClients(balancer, 3), ['a', 'c', 'a'])
})

t.test('byrequests: without sticky requests the same 3 new clients go a, b, c', async t => {
  t.same(newClients(balancerWith([undefined, undefined, undefined]), 3), ['a', 'b', 'c'])
})

t.test('byrequests: one sticky request to a shifts the rotation to b, c, a', async t => {
  // a: 100-300 = -200, b: 100, c: 100  ->  b (ties to the earlier), then c, then a.
  const balancer = balancerWith([undefined, undefined, undefined])
  balancer.finished(balancer.select({ cookie: 'ROUTEID=.a' }))
  t.same(newClients(balancer, 3), ['b', 'c', 'a'])
})

t.test('byrequests: a failed member is skipped by the rotation', async t => {
  const clock = { now: 0 }
  const balancer = balancerWith([undefined, undefined, undefined], clock)
  const first = balancer.select({})
  t.ok(first.ok)
  if (!first.ok) return
  t.equal(first.route, 'a')
  balancer.markFailed(first)
  clock.now = 1000
  t.same(newClients(balancer, 6), ['b', 'c', 'b', 'c', 'b', 'c'], 'a is never picked while in error')
})

t.test('byrequests: a member failed through failover() is skipped by the rotation', async t => {
  const clock = { now: 0 }
  const balancer = balancerWith([undefined, undefined, undefined], clock)
  const first = balancer.select({})
  if (!first.ok) { t.fail('expected a member'); return }
  t.equal(first.route, 'a')
  t.equal(first.routeChanged, true)
  const second = balancer.failover(first)
  t.ok(second.ok)
  if (second.ok) t.equal(second.route, 'b', 'failover goes to b')
  balancer.finished(second)
  clock.now = 5000
  const routes = newClients(balancer, 8)
  t.notOk(routes.includes('a'), `a never picked: ${routes.join(',')}`)
  t.same(counts(routes), { b: 4, c: 4 }, 'b and c share the new clients evenly')
})

t.test('byrequests: a failed member rejoins the rotation after retry', async t => {
  const clock = { now: 0 }
  const balancer = createBalancer({ members: membersWith([undefined, undefined, undefined]), retry: 1, now: () => clock.now })
  const first = balancer.select({})
  if (!first.ok) { t.fail('expected a member'); return }
  balancer.markFailed(first)
  clock.now = 500
  t.notOk(newClients(balancer, 4).includes('a'), 'a skipped within retry')
  clock.now = 1500
  t.ok(newClients(balancer, 3).includes('a'), 'a picked again within one rotation after retry')
})

// ---------------------------------------------------------------------------------------------
// byrequests.pick / stickyHit on MemberStates directly
// ---------------------------------------------------------------------------------------------

function states (loadFactors: number[]): MemberState[] {
  return loadFactors.map((loadFactor, i) => new MemberState(resolveOptions({ members: [{ url: `http://127.0.0.1:${8081 + i}`, route: ROUTES[i] as string, loadFactor }] }).members[0] as ResolvedMember, i))
}

t.test('MemberState: lbFactor is loadFactor * 100, rounded', async t => {
  t.same(states([1, 1.5, 1.234, 100]).map(m => m.lbFactor), [100, 150, 123, 10000])
})

t.test('byrequests.pick: Apache arithmetic step by step', async t => {
  t.equal(byrequests.name, 'byrequests')
  const [a, b, c] = states([1, 1, 1]) as [MemberState, MemberState, MemberState]
  const all = [a, b, c]
  t.equal(byrequests.pick(all), a, 'first pick: a (tie to the earlier)')
  t.same(all.map(m => m.lbStatus), [-200, 100, 100])
  t.equal(byrequests.pick(all), b, 'second pick: b')
  t.same(all.map(m => m.lbStatus), [-100, -100, 200])
  t.equal(byrequests.pick(all), c, 'third pick: c')
  t.same(all.map(m => m.lbStatus), [0, 0, 0])
})

t.test('byrequests.pick: only the candidates are updated', async t => {
  const [a, b, c] = states([1, 1, 1]) as [MemberState, MemberState, MemberState]
  t.equal(byrequests.pick([b, c]), b)
  t.same([a.lbStatus, b.lbStatus, c.lbStatus], [0, -100, 100])
  t.equal(byrequests.pick([b, c]), c)
  t.same([a.lbStatus, b.lbStatus, c.lbStatus], [0, 0, 0])
})

t.test('byrequests.pick: weights 1, 1, 2', async t => {
  const all = states([1, 1, 2])
  const seq = Array.from({ length: 8 }, () => byrequests.pick(all).route)
  t.same(seq, ['c', 'a', 'b', 'c', 'c', 'a', 'b', 'c'])
})

t.test('byrequests.stickyHit: every usable member gains its factor, the chosen one pays the total', async t => {
  const [a, b, c] = states([1, 1, 1]) as [MemberState, MemberState, MemberState]
  const all = [a, b, c]
  t.type(byrequests.stickyHit, 'function')
  byrequests.stickyHit?.(b, all)
  t.same(all.map(m => m.lbStatus), [100, -200, 100])
  byrequests.stickyHit?.(b, all)
  byrequests.stickyHit?.(b, all)
  t.same(all.map(m => m.lbStatus), [300, -600, 300])
  t.same([byrequests.pick(all), byrequests.pick(all), byrequests.pick(all)].map(m => m.route), ['a', 'c', 'a'])
})

t.test('byrequests.stickyHit: weighted', async t => {
  const [a, b] = states([1, 3]) as [MemberState, MemberState]
  byrequests.stickyHit?.(a, [a, b])
  t.same([a.lbStatus, b.lbStatus], [-300, 300])
})

t.test('property: over sum(weights) picks, each member is picked exactly its weight', async t => {
  const out = fc.check(fc.property(fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 5 }), weights => {
    const all = states(weights)
    const total = weights.reduce((s, w) => s + w, 0)
    const got = counts(Array.from({ length: total }, () => byrequests.pick(all).route))
    return weights.every((w, i) => got[ROUTES[i] as string] === w) && all.every(m => m.lbStatus === 0)
  }), { numRuns: 300 })
  t.equal(out.failed, false, out.failed ? fc.defaultReportMessage(out) ?? '' : 'exact shares, scores back to 0')
})

t.test('property: the scores of the candidates always sum to 0 (pick and stickyHit on all members)', async t => {
  const out = fc.check(fc.property(
    fc.array(fc.integer({ min: 100, max: 10000 }), { minLength: 1, maxLength: 5 }),
    fc.array(fc.option(fc.nat(), { nil: undefined }), { maxLength: 40 }),
    (factors, ops) => {
      const all = states(factors.map(f => f / 100))
      for (const op of ops) {
        if (op === undefined) byrequests.pick(all)
        else byrequests.stickyHit?.(all[op % all.length] as MemberState, all)
        if (all.reduce((s, m) => s + m.lbStatus, 0) !== 0) return false
      }
      return true
    }), { numRuns: 500 })
  t.equal(out.failed, false, out.failed ? fc.defaultReportMessage(out) ?? '' : 'sum stays 0')
})
