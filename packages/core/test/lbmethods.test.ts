/**
 * `lbmethod=bybusyness` and `lbmethod=bytraffic` (spec "Choosing a member": "Other methods"),
 * with sequence tables like byrequests', and a load-balancing method of the application's own.
 */
import t from 'tap'
import fc from 'fast-check'
import {
  bybusyness,
  bytraffic,
  createBalancer,
  LB_METHODS,
  StickyConfigError,
  StickyError,
  type Balancer,
  type LbCandidate,
  type LbMethod,
  type MemberOptions,
  type Routed,
  type StickyOptions
} from '@stickyroute/core'
import { MemberState } from '../src/members.js'
import { resolveOptions, type ResolvedMember } from '../src/options.js'

const ROUTES = ['a', 'b', 'c', 'd']

function membersWith (loadFactors: ReadonlyArray<number | undefined>): MemberOptions[] {
  return loadFactors.map((loadFactor, i) => ({
    url: `http://127.0.0.1:${8081 + i}`,
    route: ROUTES[i] as string,
    ...(loadFactor === undefined ? {} : { loadFactor })
  }))
}

function balancerWith (lbMethod: StickyOptions['lbMethod'], loadFactors: ReadonlyArray<number | undefined>, extra: Partial<StickyOptions> = {}): Balancer {
  return createBalancer({ members: membersWith(loadFactors), routeCookie: 'ROUTEID', lbMethod, now: () => 0, ...extra })
}

/**
 * A script of requests. `new` opens a request of a new client and leaves it in flight; `new!`
 * is a new client whose request finishes at once; `sticky x` opens a request whose route names
 * x; `end x` finishes the oldest request in flight on x. `bytes` are added when it finishes.
 */
type Op =
  | { op: 'new' | 'new!', sent?: number, received?: number }
  | { op: 'sticky', route: string, sent?: number, received?: number }
  | { op: 'end', route: string, sent?: number, received?: number }

/** Runs `script` and returns the member chosen by each `new`, `new!` and `sticky`. */
function run (balancer: Balancer, script: readonly Op[]): string[] {
  const open: Routed[] = []
  const out: string[] = []
  for (const step of script) {
    const outcome = { status: 200, bytesSent: step.sent, bytesReceived: step.received }
    if (step.op === 'end') {
      const i = open.findIndex(d => d.route === step.route)
      const d = open.splice(i, 1)[0]
      if (i === -1 || d === undefined) throw new Error(`no request in flight on ${step.route}`)
      balancer.finished(d, outcome)
      continue
    }
    const d = balancer.select(step.op === 'sticky' ? { cookie: `ROUTEID=.${step.route}` } : {})
    if (!d.ok) throw new Error(`503 ${d.reason}`)
    out.push(d.route)
    if (step.op === 'new!') balancer.finished(d, outcome)
    else open.push(d)
  }
  return out
}

const repeat = (n: number, step: Op): Op[] => Array.from({ length: n }, () => step)
const NEW: Op = { op: 'new' }
const IDLE: Op = { op: 'new!' }

interface SequenceRow {
  name: string
  loadFactors: ReadonlyArray<number | undefined>
  script: Op[]
  expected: string[]
}

// ---------------------------------------------------------------------------------------------
// bybusyness
// ---------------------------------------------------------------------------------------------

const busyRows: SequenceRow[] = [
  { name: 'idle members rotate like byrequests', loadFactors: [1, 1, 1], script: repeat(6, IDLE), expected: ['a', 'b', 'c', 'a', 'b', 'c'] },
  { name: 'idle members with weights 1, 1, 2 rotate like byrequests: c, a, b, c', loadFactors: [1, 1, 2], script: repeat(8, IDLE), expected: ['c', 'a', 'b', 'c', 'c', 'a', 'b', 'c'] },
  { name: 'requests kept in flight: the least busy, ties by lbstatus', loadFactors: [1, 1, 1], script: repeat(6, NEW), expected: ['a', 'b', 'c', 'a', 'b', 'c'] },
  {
    name: 'a long request on a: short ones alternate b, c; once a is free it catches up (its lbstatus grew)',
    loadFactors: [1, 1, 1],
    script: [NEW, ...repeat(5, IDLE), { op: 'end', route: 'a' }, ...repeat(4, IDLE)],
    expected: ['a', 'b', 'c', 'b', 'c', 'b', 'a', 'a', 'c', 'a']
  },
  {
    name: 'weights 1, 2 with everything in flight: busy counts win, the weight only breaks ties',
    loadFactors: [1, 2],
    script: repeat(6, NEW),
    expected: ['b', 'a', 'b', 'a', 'b', 'a']
  },
  {
    name: 'two sticky requests in flight on a count as busy: new clients go b, c, b',
    loadFactors: [1, 1, 1],
    script: [{ op: 'sticky', route: 'a' }, { op: 'sticky', route: 'a' }, ...repeat(3, IDLE)],
    expected: ['a', 'a', 'b', 'c', 'b']
  },
  {
    name: 'finished() releases: a freed member is the least busy again',
    loadFactors: [1, 1],
    script: [NEW, NEW, NEW, { op: 'end', route: 'b' }, NEW, { op: 'end', route: 'a' }, { op: 'end', route: 'a' }, NEW],
    expected: ['a', 'b', 'a', 'b', 'a']
  }
]

t.test('bybusyness: sequences', async t => {
  for (const row of busyRows) {
    t.same(run(balancerWith('bybusyness', row.loadFactors), row.script), row.expected, row.name)
  }
})

t.test('bybusyness: a failover releases the failed member\'s busy count', async t => {
  const balancer = balancerWith('bybusyness', [1, 1])
  const first = balancer.select({})
  if (!first.ok) { t.fail('expected a member'); return }
  t.equal(balancer.member('a').busy, 1)
  const second = balancer.failover(first)
  t.same(balancer.members().map(m => m.busy), [0, 1])
  balancer.finished(second)
  t.same(balancer.members().map(m => m.busy), [0, 0])
})

function states (loadFactors: number[]): MemberState[] {
  return loadFactors.map((loadFactor, i) => new MemberState(resolveOptions({ members: [{ url: `http://127.0.0.1:${8081 + i}`, route: ROUTES[i] as string, loadFactor }] }).members[0] as ResolvedMember, i))
}

t.test('bybusyness.pick: Apache arithmetic step by step', async t => {
  t.equal(bybusyness.name, 'bybusyness')
  const [a, b, c] = states([1, 1, 1]) as [MemberState, MemberState, MemberState]
  a.busy = 2
  b.busy = 1
  c.busy = 1
  t.equal(bybusyness.pick([a, b, c]), b, 'least busy, tie b/c to the earlier')
  t.same([a.lbStatus, b.lbStatus, c.lbStatus], [100, -200, 100], 'every candidate gains its factor, the winner pays the total')
  t.equal(bybusyness.pick([a, b, c]), c, 'tie b/c: higher lbstatus wins')
  t.same([a.lbStatus, b.lbStatus, c.lbStatus], [200, -100, -100])
  a.busy = 0
  t.equal(bybusyness.pick([b, c]), b, 'only the candidates count')
  t.same([a.lbStatus, b.lbStatus, c.lbStatus], [200, -200, 0])
  t.equal(bybusyness.stickyHit, LB_METHODS.byrequests.stickyHit, 'sticky hits counted like byrequests')
})

/** Apache mod_lbmethod_bybusyness, written out on plain objects. */
function modelBusy (ws: Array<{ busy: number, lbstatus: number, lbfactor: number }>): number {
  let total = 0
  let best = -1
  ws.forEach((w, i) => {
    w.lbstatus += w.lbfactor
    total += w.lbfactor
    const m = ws[best]
    if (m === undefined || w.busy < m.busy || (w.busy === m.busy && w.lbstatus > m.lbstatus)) best = i
  })
  ;(ws[best] as { lbstatus: number }).lbstatus -= total
  return best
}

t.test('property: bybusyness picks as Apache\'s algorithm for any busy counts and weights', async t => {
  const out = fc.check(fc.property(
    fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 4 }),
    fc.array(fc.tuple(fc.nat(3), fc.boolean()), { maxLength: 40 }),
    (weights, ops) => {
      const all = states(weights)
      const model = weights.map(w => ({ busy: 0, lbstatus: 0, lbfactor: w * 100 }))
      for (const [i, pick] of ops) {
        const k = i % all.length
        if (!pick) {
          // Open one request on member k.
          (all[k] as MemberState).busy++
          ;(model[k] as { busy: number }).busy++
          continue
        }
        if (all.indexOf(bybusyness.pick(all) as MemberState) !== modelBusy(model)) return false
      }
      return all.every((m, j) => m.lbStatus === model[j]?.lbstatus)
    }), { numRuns: 300 })
  t.equal(out.failed, false, out.failed ? fc.defaultReportMessage(out) ?? '' : 'same picks as the model')
})

// ---------------------------------------------------------------------------------------------
// bytraffic
// ---------------------------------------------------------------------------------------------

const R100: Op = { op: 'new!', sent: 40, received: 60 }

const trafficRows: SequenceRow[] = [
  { name: 'no bytes counted: every tie goes to the earlier member', loadFactors: [1, 1, 1], script: repeat(3, IDLE), expected: ['a', 'a', 'a'] },
  { name: 'requests of 100 bytes (40 sent + 60 received): a, b, c, a, b, c', loadFactors: [1, 1, 1], script: repeat(6, R100), expected: ['a', 'b', 'c', 'a', 'b', 'c'] },
  { name: 'bytes sent alone count', loadFactors: [1, 1], script: repeat(4, { op: 'new!', sent: 10 }), expected: ['a', 'b', 'a', 'b'] },
  { name: 'bytes received alone count', loadFactors: [1, 1], script: repeat(4, { op: 'new!', received: 10 }), expected: ['a', 'b', 'a', 'b'] },
  { name: 'weights 1, 2: b is given twice the traffic (ties to a)', loadFactors: [1, 2], script: repeat(7, R100), expected: ['a', 'b', 'b', 'a', 'b', 'b', 'a'] },
  { name: 'weight 1.5: traffic divided exactly', loadFactors: [1.5, 1], script: repeat(5, R100), expected: ['a', 'b', 'a', 'b', 'a'] },
  {
    name: 'one big answer on a: the others catch up first',
    loadFactors: [1, 1, 1],
    script: [{ op: 'new!', received: 450 }, ...repeat(8, R100), R100],
    expected: ['a', 'b', 'c', 'b', 'c', 'b', 'c', 'b', 'c', 'b']
  },
  {
    name: 'a request in flight counts only once finished',
    loadFactors: [1, 1, 1],
    script: [NEW, R100, R100, { op: 'end', route: 'a', received: 1000 }, R100, R100],
    expected: ['a', 'a', 'b', 'c', 'b']
  },
  {
    name: 'sticky traffic counts: a heavy sticky client on b keeps new clients on a and c',
    loadFactors: [1, 1, 1],
    script: [{ op: 'sticky', route: 'b' }, { op: 'end', route: 'b', received: 500 }, ...repeat(4, R100)],
    expected: ['b', 'a', 'c', 'a', 'c']
  }
]

t.test('bytraffic: sequences', async t => {
  for (const row of trafficRows) {
    t.same(run(balancerWith('bytraffic', row.loadFactors), row.script), row.expected, row.name)
  }
})

t.test('bytraffic: bytes are counted through finished(), once', async t => {
  const balancer = balancerWith('bytraffic', [1, 1])
  const d = balancer.select({})
  balancer.finished(d, { bytesSent: 5, bytesReceived: 7 })
  balancer.finished(d, { bytesSent: 5, bytesReceived: 7 })
  t.same(balancer.members().map(m => [m.bytesSent, m.bytesReceived]), [[5, 7], [0, 0]])
})

t.test('bytraffic: no sticky-hit accounting; pick reads only the counters', async t => {
  t.equal(bytraffic.name, 'bytraffic')
  t.equal(bytraffic.stickyHit, undefined)
  const [a, b] = states([1, 2]) as [MemberState, MemberState]
  a.bytesSent = 100
  b.bytesReceived = 150
  t.equal(bytraffic.pick([a, b]), b, '100 / 1 against 150 / 2')
  t.same([a.lbStatus, b.lbStatus], [0, 0], 'lbstatus untouched')
  b.bytesSent = 50
  t.equal(bytraffic.pick([a, b]), a, 'tie 100 / 1 = 200 / 2: the earlier')
})

// ---------------------------------------------------------------------------------------------
// The method is resolved by name; the built-in objects may be passed too
// ---------------------------------------------------------------------------------------------

t.test('lbMethod by name and by the exported object', async t => {
  for (const name of ['byrequests', 'bybusyness', 'bytraffic'] as const) {
    t.equal(balancerWith(name, [1, 1]).lbMethod, name, `'${name}'`)
    t.equal(balancerWith(LB_METHODS[name], [1, 1]).lbMethod, name, `LB_METHODS.${name}`)
  }
  t.equal(balancerWith(undefined, [1]).lbMethod, 'byrequests', 'default')
})

// ---------------------------------------------------------------------------------------------
// A method of the application's own
// ---------------------------------------------------------------------------------------------

t.test('custom lbMethod: used for new clients, given only the candidates of one tier, in order', async t => {
  const seen: string[][] = []
  const last: LbMethod = {
    name: 'last',
    pick (candidates) {
      seen.push(candidates.map(c => c.route))
      return candidates[candidates.length - 1] as LbCandidate
    }
  }
  const balancer = createBalancer({
    members: [
      { url: 'http://127.0.0.1:8081', route: 'a' },
      { url: 'http://127.0.0.1:8082', route: 'b', draining: true },
      { url: 'http://127.0.0.1:8083', route: 'c' },
      { url: 'http://127.0.0.1:8084', route: 'd', lbSet: 1 },
      { url: 'http://127.0.0.1:8085', route: 's', hotStandby: true }
    ],
    routeCookie: 'ROUTEID',
    lbMethod: last,
    forceRecovery: false
  })
  t.equal(balancer.lbMethod, 'last')
  t.same(run(balancer, repeat(3, IDLE)), ['c', 'c', 'c'])
  t.same(seen, [['a', 'c'], ['a', 'c'], ['a', 'c']], 'normal members of tier 0 that take new clients')
  t.same(run(balancer, [{ op: 'sticky', route: 'b' }]), ['b'], 'no stickyHit: sticky requests still routed')
  balancer.set('a', { inError: true })
  balancer.set('c', { inError: true })
  seen.length = 0
  t.same(run(balancer, [IDLE]), ['s'])
  t.same(seen, [['s']], 'the tier\'s hot standby')
  // The candidates carry the counters, so a method can weigh them.
  const counters: LbMethod = {
    name: 'counters',
    pick (candidates) {
      const c = candidates[0] as LbCandidate
      seen.push([`${c.route} elected=${c.elected} busy=${c.busy} index=${c.index} lbSet=${c.lbSet} loadFactor=${c.loadFactor} url=${c.url}`])
      return c
    }
  }
  seen.length = 0
  const b2 = createBalancer({ members: [{ url: 'http://127.0.0.1:8081', route: 'a', loadFactor: 3 }], lbMethod: counters })
  b2.select({})
  b2.select({})
  t.same(seen, [['a elected=0 busy=0 index=0 lbSet=0 loadFactor=3 url=http://127.0.0.1:8081'], ['a elected=1 busy=1 index=0 lbSet=0 loadFactor=3 url=http://127.0.0.1:8081']])
})

t.test('custom lbMethod: stickyHit is called with the chosen member and every usable one', async t => {
  const hits: string[] = []
  const method: LbMethod = {
    name: 'first',
    pick: candidates => candidates[0] as LbCandidate,
    stickyHit: (chosen, usable) => { hits.push(`${chosen.route}:${usable.map(u => u.route).join('')}`) }
  }
  const balancer = balancerWith(method, [1, 1, 1])
  balancer.set('c', { disabled: true })
  run(balancer, [{ op: 'sticky', route: 'b' }, IDLE, { op: 'sticky', route: 'a' }])
  t.same(hits, ['b:ab', 'a:ab'], 'on sticky hits only; disabled members are not usable')
})

t.test('custom lbMethod: a pick that is not one of the candidates throws ERR_STICKY_LB_METHOD on select', async t => {
  const bad: Array<[string, (candidates: readonly LbCandidate[]) => LbCandidate]> = [
    ['a copy of a candidate', candidates => ({ ...(candidates[0] as LbCandidate) })],
    ['undefined', () => undefined as unknown as LbCandidate],
    ['a plain object', () => ({ route: 'a' }) as unknown as LbCandidate]
  ]
  for (const [name, pick] of bad) {
    let calls = 0
    const balancer = createBalancer({
      members: membersWith([1, 1]).map((m, i) => i === 1 ? { ...m, disabled: true } : m),
      lbMethod: { name: 'broken', pick: candidates => { calls++; return calls === 1 ? (candidates[0] as LbCandidate) : pick(candidates) } }
    })
    const first = balancer.select({})
    t.ok(first.ok, `${name}: a valid pick works`)
    t.throws(() => balancer.select({}), { name: 'StickyError', code: 'ERR_STICKY_LB_METHOD', message: /broken\.pick\(\)/ }, `${name}: throws`)
    t.same(balancer.members().map(m => m.elected), [1, 0], `${name}: nothing counted for the bad pick`)
  }
})

t.test('custom lbMethod: an earlier candidate that no longer takes new clients is refused', async t => {
  let remembered: LbCandidate | undefined
  const balancer = createBalancer({
    members: membersWith([1, 1]),
    lbMethod: { name: 'sticky-to-b', pick: candidates => { remembered ??= candidates.find(c => c.route === 'b'); return remembered ?? (candidates[0] as LbCandidate) } }
  })
  const d = balancer.select({})
  t.equal(d.ok && d.route, 'b')
  balancer.set('b', { draining: true })
  t.throws(() => balancer.select({}), { code: 'ERR_STICKY_LB_METHOD' })
})

interface BadMethodRow {
  name: string
  lbMethod: unknown
  option: string
}

const badMethods: BadMethodRow[] = [
  { name: 'no name', lbMethod: { pick: () => undefined }, option: 'lbMethod.name' },
  { name: 'empty name', lbMethod: { name: '', pick: () => undefined }, option: 'lbMethod.name' },
  { name: 'name not a string', lbMethod: { name: 1, pick: () => undefined }, option: 'lbMethod.name' },
  { name: 'no pick', lbMethod: { name: 'x' }, option: 'lbMethod.pick' },
  { name: 'pick not a function', lbMethod: { name: 'x', pick: 'first' }, option: 'lbMethod.pick' },
  { name: 'stickyHit not a function', lbMethod: { name: 'x', pick: () => undefined, stickyHit: true }, option: 'lbMethod.stickyHit' },
  { name: 'stickyHit null', lbMethod: { name: 'x', pick: () => undefined, stickyHit: null }, option: 'lbMethod.stickyHit' },
  { name: 'a number', lbMethod: 3, option: 'lbMethod' },
  { name: 'an array', lbMethod: [() => undefined], option: 'lbMethod' },
  { name: 'a function', lbMethod: () => undefined, option: 'lbMethod' },
  { name: 'null', lbMethod: null, option: 'lbMethod' },
  { name: 'a name in another case', lbMethod: 'ByRequests', option: 'lbMethod' },
  { name: 'an inherited property name', lbMethod: 'toString', option: 'lbMethod' }
]

t.test('custom lbMethod: a bad method is refused when the options are resolved', async t => {
  for (const row of badMethods) {
    let caught: unknown
    try {
      resolveOptions({ members: membersWith([1]), lbMethod: row.lbMethod as LbMethod })
    } catch (err) {
      caught = err
    }
    t.ok(caught instanceof StickyConfigError && caught instanceof StickyError, `${row.name}: StickyConfigError`)
    t.match(caught, { code: 'ERR_STICKY_LB_METHOD', option: row.option }, `${row.name}: code and option`)
    t.match((caught as Error).message, `\`${row.option}\``, `${row.name}: the message names it`)
  }
})

t.test('custom lbMethod: stickyHit may be left out or undefined', async t => {
  for (const lbMethod of [{ name: 'x', pick: (c: readonly LbCandidate[]) => c[0] as LbCandidate }, { name: 'y', pick: (c: readonly LbCandidate[]) => c[0] as LbCandidate, stickyHit: undefined }]) {
    const balancer = balancerWith(lbMethod, [1, 1])
    t.same(run(balancer, [IDLE, { op: 'sticky', route: 'b' }, IDLE]), ['a', 'b', 'a'], lbMethod.name)
  }
})
