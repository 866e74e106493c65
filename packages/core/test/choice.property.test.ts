/**
 * Hardening, member choice: a Balancer over arbitrary member sets (shared routes, weights,
 * separators, both Apache methods, noFailover, forceRecovery) fed arbitrary request sequences
 * (hostile cookies and URLs, routes naming members, failures, failovers, time passing) agrees at
 * every step with the reference model of the spec (spec-model.ts): same member or same 503, same
 * routeChanged, and the Set-Cookie the spec prescribes. It only ever names a configured member,
 * always honours a route naming a usable member, and the cookie it writes routes the client back.
 */
import fc from 'fast-check'
import t from 'tap'
import { Balancer, type Decision, type Routed, type StickyOptions } from '../src/index.js'
import { configSeparator, cookieInput, holds, ROUTE_POOL, urlInput } from './property.js'
import { ModelBalancer, modelSession, modelSetCookie, type ModelChoice } from './spec-model.js'

interface Config {
  members: Array<{ route: string, loadFactor: number }>
  method: 'ROUTEID' | 'JSESSIONID|jsessionid' | 'cookie-only'
  routeCookie: boolean
  separator: string | false
  noFailover: boolean
  forceRecovery: boolean
  retry: number
}

const config: fc.Arbitrary<Config> = fc.record({
  members: fc.array(fc.record({
    route: fc.constantFrom(...ROUTE_POOL.slice(0, 6)),
    loadFactor: fc.oneof({ weight: 3, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 100 }) })
  }), { minLength: 1, maxLength: 5 }),
  method: fc.constantFrom('ROUTEID', 'JSESSIONID|jsessionid', 'cookie-only'),
  routeCookie: fc.boolean(),
  separator: configSeparator,
  noFailover: fc.boolean(),
  forceRecovery: fc.boolean(),
  retry: fc.constantFrom(0, 1, 60)
})

type Step =
  /** A request naming a route from the pool (it may name no member), in the cookie, the URL or both. */
  | { kind: 'named', route: string, id: string, where: 'cookie' | 'url' | 'both', secure: boolean }
  /** A request with arbitrary hostile headers. */
  | { kind: 'raw', cookie: string | string[] | undefined, url: string | undefined, secure: boolean }
  /** The previous decision's member refused the connection; the request is not retried. */
  | { kind: 'fail' }
  /** The previous decision's member refused the connection; the same request fails over. */
  | { kind: 'failover' }
  | { kind: 'tick', seconds: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('named' as const), route: fc.constantFrom(...ROUTE_POOL), id: fc.constantFrom('', 'ABC', 'x.y'), where: fc.constantFrom('cookie' as const, 'url' as const, 'both' as const), secure: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('raw' as const), cookie: cookieInput, url: urlInput, secure: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'fail' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'failover' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), seconds: fc.constantFrom(0.5, 2, 30, 61) }) }
)

function names (c: Config): { cookie: string, urlParam: string | undefined } {
  if (c.method === 'ROUTEID') return { cookie: 'ROUTEID', urlParam: 'ROUTEID' }
  if (c.method === 'cookie-only') return { cookie: 'ROUTEID', urlParam: undefined }
  return { cookie: 'JSESSIONID', urlParam: 'jsessionid' }
}

function optionsOf (c: Config, clock: { ms: number }): StickyOptions {
  return {
    members: c.members.map((m, i) => ({ url: `http://127.0.0.1:${8001 + i}`, route: m.route, loadFactor: m.loadFactor })),
    stickySession: c.method === 'cookie-only' ? { cookie: 'ROUTEID', urlParam: false } : c.method,
    routeCookie: c.routeCookie,
    routeSeparator: c.separator,
    noFailover: c.noFailover,
    forceRecovery: c.forceRecovery,
    retry: c.retry,
    now: () => clock.ms
  }
}

/** What a request carries for a `named` step: `<id><separator><route>` where the step says. */
function carried (c: Config, s: Extract<Step, { kind: 'named' }>): { cookie: string | undefined, url: string } {
  const { cookie, urlParam } = names(c)
  const value = `${s.id}${c.separator === false ? '' : c.separator}${s.route}`
  return {
    cookie: s.where === 'url' ? undefined : `a=1; ${cookie}=${value}; b=2`,
    url: s.where === 'cookie' || urlParam === undefined ? '/app' : `/app;${urlParam}=${value}?x=1`
  }
}

/** Compares one decision with the model's choice; returns the first disagreement, or '' when they agree. */
function disagreement (c: Config, d: Decision, want: ModelChoice, session: ReturnType<typeof modelSession>, secure: boolean): string {
  const show = (): string => `got ${JSON.stringify(d)}, model ${JSON.stringify(want)}`
  if (d.ok !== want.ok) return `ok differs: ${show()}`
  if (!d.ok || !want.ok) return !d.ok && !want.ok && d.reason !== want.reason ? `reason differs: ${show()}` : ''
  const member = c.members[d.member.index]
  if (member === undefined || d.member.url !== `http://127.0.0.1:${8001 + d.member.index}` || d.route !== member.route) return `not a configured member: ${show()}`
  if (d.member.index !== want.index) return `member differs: ${show()}`
  if (d.routeChanged !== want.routeChanged) return `routeChanged differs: ${show()}`
  if (d.clientRoute !== session?.route || d.routeSource !== session?.source) return `client route differs: ${show()}, session ${JSON.stringify(session)}`
  const sep = c.separator === false ? undefined : c.separator
  const cookie = c.routeCookie && d.routeChanged ? modelSetCookie(names(c).cookie, sep, d.route, secure) : undefined
  if (d.setCookie !== cookie) return `Set-Cookie differs: ${JSON.stringify(d.setCookie)}, spec ${JSON.stringify(cookie)}`
  return ''
}

t.test('the balancer agrees with the model of the spec, step by step', async t => {
  let steps = 0
  // What the runs went through, so that a generator change that stops reaching a branch shows.
  const seen = { sticky: 0, balanced: 0, failover: 0, 'no-member': 0, 'max-attempts': 0, nofailover: 0, recovered: 0 }
  holds(t, 'sequences of requests, failures and time', fc.property(config, fc.array(step, { minLength: 1, maxLength: 25 }), (c, seq) => {
    const clock = { ms: 1_000_000 }
    const balancer = new Balancer(optionsOf(c, clock))
    const model = new ModelBalancer(c.members, { retrySeconds: c.retry, noFailover: c.noFailover, forceRecovery: c.forceRecovery })
    const { cookie: cookieName, urlParam } = names(c)
    const sep = c.separator === false ? undefined : c.separator
    let last: { d: Routed, tried: number[], route: string | undefined, session: ReturnType<typeof modelSession>, secure: boolean } | undefined
    for (const s of seq) {
      steps++
      if (s.kind === 'tick') {
        clock.ms += s.seconds * 1000
        continue
      }
      if (s.kind === 'fail' || s.kind === 'failover') {
        if (last === undefined) continue
        const prev = last
        last = undefined
        model.fail(prev.d.member.index, clock.ms)
        if (s.kind === 'fail') {
          balancer.markFailed(prev.d)
          continue
        }
        const d = balancer.failover(prev.d)
        const tried = [...prev.tried, prev.d.member.index]
        const want: ModelChoice = prev.d.attempt > model.maxAttempts ? { ok: false, reason: 'max-attempts' } : model.choose(prev.route, clock.ms, tried)
        const why = disagreement(c, d, want, prev.session, prev.secure)
        if (why !== '') throw new Error(`failover: ${why}`)
        if (d.ok) seen.failover++
        else seen[d.reason]++
        if (d.ok) last = { ...prev, d, tried }
        balancer.finished(d)
        continue
      }
      const req = s.kind === 'named' ? { ...carried(c, s), secure: s.secure } : s
      const session = modelSession(req.cookie, req.url, cookieName, urlParam, sep)
      const usableNamed = session?.route !== undefined && c.members.some((m, i) => m.route === session.route && model.usable(i, clock.ms))
      const allDown = c.members.every((_, i) => !model.usable(i, clock.ms))
      const d = balancer.select(req)
      const want = model.choose(session?.route, clock.ms)
      if (d.ok) seen[d.routeChanged ? 'balanced' : 'sticky']++
      else seen[d.reason]++
      if (allDown && d.ok) seen.recovered++
      const why = disagreement(c, d, want, session, req.secure)
      if (why !== '') throw new Error(`select ${JSON.stringify(req)}: ${why}`)
      // Stated on its own, as the spec says it: a route naming a usable member is honoured.
      if (usableNamed && !(d.ok && d.route === session.route && !d.routeChanged && d.setCookie === undefined)) {
        throw new Error(`route ${session.route} names a usable member but was not honoured: ${JSON.stringify(d)}`)
      }
      balancer.finished(d)
      last = d.ok ? { d, tried: [], route: session?.route, session, secure: req.secure } : undefined
    }
  }), 1500)
  t.ok(steps > 5000, `exercised ${steps} steps`)
  for (const [what, n] of Object.entries(seen)) t.ok(n > 0, `reached: ${what} (${n} times)`)
})

t.test('the cookie the balancer writes routes the client back to a member of that route', async t => {
  holds(t, 'round trip', fc.property(config.filter(c => c.routeCookie), cookieInput, urlInput, fc.boolean(), (c, cookie, url, secure) => {
    const balancer = new Balancer(optionsOf(c, { ms: 0 }))
    const first = balancer.select({ cookie, url, secure })
    if (!first.ok) throw new Error(`no member without failures: ${JSON.stringify(first)}`)
    if (first.setCookie === undefined) return first.routeChanged === false
    const { cookie: name } = names(c)
    const sep = c.separator === false ? '' : c.separator
    // The value is exactly <separator><route of the chosen member>, then the attributes.
    if (!first.setCookie.startsWith(`${name}=${sep}${first.route}; Path=/; HttpOnly;`)) return false
    if (!c.members.some(m => m.route === first.route)) return false
    const back = balancer.select({ cookie: first.setCookie.split(';')[0], secure })
    return back.ok && back.route === first.route && !back.routeChanged && back.setCookie === undefined &&
      back.member.index === c.members.findIndex(m => m.route === first.route)
  }), 1500)
})

t.test('only configured members, or a 503', async t => {
  // Without the model: whatever happens, a decision names a configured member or is a 503 with a reason.
  holds(t, 'closed world', fc.property(config, fc.array(step, { maxLength: 15 }), (c, seq) => {
    const clock = { ms: 0 }
    const balancer = new Balancer(optionsOf(c, clock))
    const urls = new Set(c.members.map((_, i) => `http://127.0.0.1:${8001 + i}`))
    let last: Routed | undefined
    for (const s of seq) {
      let d: Decision | undefined
      if (s.kind === 'tick') clock.ms += s.seconds * 1000
      else if (s.kind === 'fail' && last !== undefined) balancer.markFailed(last)
      else if (s.kind === 'failover' && last !== undefined) d = balancer.failover(last)
      else if (s.kind === 'named' || s.kind === 'raw') d = balancer.select(s.kind === 'named' ? carried(c, s) : s)
      if (s.kind === 'fail' || s.kind === 'failover') last = undefined
      if (d === undefined) continue
      if (d.ok ? !urls.has(d.member.url) || c.members[d.member.index]?.route !== d.route : d.status !== 503) return false
      if (d.ok) last = d
    }
    return true
  }), 1000)
})
