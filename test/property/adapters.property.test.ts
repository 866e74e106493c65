/**
 * Hardening, adapter agreement: for generated Cookie headers and request targets, the Fastify
 * plugin and the Express middleware choose the same member and write the same Set-Cookie, and
 * both choose what the core's Balancer chooses for the same input.
 *
 * What is deterministic: a route naming a member always goes to that member; for clients without
 * a usable route, byrequests rotation depends on the balancer's history (sticky hits count too).
 * So each run starts both gateways afresh and sends them the same sequence of requests, one
 * request to both before the next: their balancers see the same history and must agree at every
 * step, including which member each new client rotates to. A core Balancer fed the same inputs in
 * this process says which member that is.
 *
 * Requests go over raw sockets, so the bytes are exactly the generated ones. Targets the two
 * frameworks are known to treat differently before the balancer is asked (Fastify and reply-from
 * refuse malformed percent-encoding, `//` and dot segments with 400; see test/hostile/) are left
 * out of the comparison.
 */
import fc from 'fast-check'
import t from 'tap'
import { Balancer, type StickyOptions } from '@stickyroute/core'
import type { Gateway } from '../conformance/harness.js'
import { startExpress, startFastify } from '../helpers/gateways.js'
import { exchange, headerValues, type RawRequest } from '../helpers/raw-http.js'
import { startBigHeaderMembers } from '../hostile/members.js'

const ROUTES = ['r1', 'r2', 'r3']
const SEED = Number(process.env['STICKYROUTE_FC_SEED'] ?? 20260601)

/** Bytes Node accepts inside a header value, in pieces that make collisions likely. */
const COOKIE_PIECES = ['ROUTEID', 'ROUTEID=', 'ROUTEID =', 'routeid=', 'XROUTEID=', 'JSESSIONID=', 'jsessionid=', '.r1', '.r2', '.r3', 'abc.r2',
  '.r4', '..', '.', 'r2', ';', '; ', ',', ' ', '\t', '=', '"', '%00', '\xe9', '\xff', '\xc3\xa9', 'a=1', '=']
const URL_PIECES = ['/', 'app', ';', '?', '&', '=', '.', '#', '%00', '%3B', '%2E', 'x=1', 'jsessionid', 'jsessionid=', ';jsessionid=',
  '?jsessionid=', '&jsessionid=', 'JSESSIONID=', 'ROUTEID=', 'x.r1', 'x.r2', 'x.r3', '.r2', 'r3', 'x.r9']

/** A well-formed Cookie line naming a route (often a configured one), among other cookies. */
const realCookie = fc.tuple(fc.constantFrom('', 'a=1; ', 'theme=dark; JSESSIONID=abc; '), fc.constantFrom('', 'abc'), fc.constantFrom(...ROUTES, 'r4'), fc.constantFrom('', '; b=2'))
  .map(([before, id, route, after]) => `${before}ROUTEID=${id}.${route}${after}`)

const hostileCookie = fc.array(fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...COOKIE_PIECES) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }).map(n => 'x'.repeat(n)) }
), { minLength: 1, maxLength: 12 }).map(p => p.join(''))
  // Node trims white space around a header value and drops an empty one: keep what is sent what is seen.
  .filter(v => v.trim() === v && v !== '')

const cookieLine = fc.oneof(realCookie, hostileCookie)

const realTarget = fc.tuple(fc.constantFrom('/', '/app', '/app/x'), fc.constantFrom(';', '?', '?a=1&'), fc.constantFrom(...ROUTES, 'r4'))
  .map(([path, sep, route]) => `${path}${sep}jsessionid=ABC.${route}`)
const target = fc.oneof(realTarget, fc.array(fc.constantFrom(...URL_PIECES), { maxLength: 10 }).map(p => `/${p.join('')}`))
  .filter(u => !u.startsWith('//') && !decodeURIComponent(u.replace(/%00/g, '')).includes('..'))

interface Req { cookies: string[], target: string }
const request: fc.Arbitrary<Req> = fc.record({
  cookies: fc.oneof({ weight: 3, arbitrary: fc.array(cookieLine, { minLength: 1, maxLength: 1 }) }, { weight: 1, arbitrary: fc.array(cookieLine, { maxLength: 3 }) }),
  target: fc.oneof({ weight: 3, arbitrary: target }, { weight: 1, arbitrary: fc.constant('/') })
})

interface Seen { status: number, member: string | undefined, setCookie: string[] }

async function send (gw: Gateway, r: Req): Promise<Seen | string> {
  const raw: RawRequest = { target: r.target, headers: [['Host', 'gateway.test'], ...r.cookies.map(c => ['Cookie', c] as const)] }
  const outcome = await exchange(gw.origin, raw)
  if (!outcome.ok) return outcome.problem
  const res = outcome.response
  return { status: res.status, member: headerValues(res, 'x-member')[0], setCookie: headerValues(res, 'set-cookie') }
}

t.test('Fastify and Express choose the same member and write the same cookie as the core', async t => {
  const members = await startBigHeaderMembers(ROUTES)
  t.teardown(async () => { await Promise.all(members.map(m => m.close())) })
  const options: StickyOptions = { members: members.map(m => ({ url: m.url, route: m.route })), stickySession: 'ROUTEID|jsessionid', routeCookie: 'ROUTEID' }
  let requests = 0
  let sticky = 0
  let balanced = 0
  const out = await fc.check(fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 6 }), async seq => {
    const fastify = await startFastify(options, { prefix: '' })
    const express = await startExpress(options, { prefix: '' })
    const core = new Balancer(options)
    try {
      for (const r of seq) {
        requests++
        const d = core.select({ cookie: r.cookies.length === 0 ? undefined : r.cookies.join('; '), url: r.target })
        if (!d.ok) throw new Error(`the core has no member for ${JSON.stringify(r)}`)
        core.finished(d)
        const want: Seen = { status: 200, member: d.route, setCookie: d.setCookie === undefined ? [] : [d.setCookie] }
        if (d.routeChanged) balanced++
        else sticky++
        const [f, e] = [await send(fastify, r), await send(express, r)]
        if (JSON.stringify(f) !== JSON.stringify(want) || JSON.stringify(e) !== JSON.stringify(want)) {
          throw new Error(`request ${JSON.stringify(r)}\n  core:    ${JSON.stringify(want)}\n  fastify: ${JSON.stringify(f)}\n  express: ${JSON.stringify(e)}`)
        }
      }
    } finally {
      await fastify.close()
      await express.close()
    }
  }), { numRuns: 200, seed: SEED })
  t.ok(!out.failed, out.failed ? fc.defaultReportMessage(out) ?? 'failed' : 'the adapters agree with each other and with the core')
  t.ok(sticky > 50 && balanced > 50, `both kinds of request were sent (${requests} in all: ${sticky} sticky, ${balanced} balanced)`)
})
