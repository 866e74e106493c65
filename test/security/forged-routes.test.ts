/**
 * Security model, "a client can choose among members by forging a route": through each gateway,
 * a client that writes `ROUTEID=.<route>` itself reaches that member when it is usable (draining
 * and hot-standby members included), never a disabled or stopped one, never anything that is not
 * a member. With opaque routes, a plain route no longer names a member: a client can only present
 * a token the gateway issued, and a token of a previous key is re-issued with the current key.
 */
import t from 'tap'
import { routeToken, type StickyOptions } from '@stickyroute/core'
import { Upstreams } from '../helpers/upstreams.js'
import { exchange, headerValues } from '../helpers/raw-http.js'
import { GATEWAYS, startAttacker } from './harness.js'

const ATTRS = '; Path=/; HttpOnly; SameSite=Lax'
const KEY = 'security-test-key-0123456789abcdefghij'
const OLD = 'security-test-old-key-0123456789abcdef'

interface Answer { member: string | undefined, status: number, setCookie: string[] }

async function get (origin: string, cookie?: string): Promise<Answer> {
  const headers: Array<[string, string]> = [['Host', new URL(origin).host]]
  if (cookie !== undefined) headers.push(['Cookie', cookie])
  const outcome = await exchange(origin, { target: '/', headers })
  if (!outcome.ok) throw new Error(outcome.problem)
  const res = outcome.response
  return { member: headerValues(res, 'x-member')[0], status: res.status, setCookie: headerValues(res, 'set-cookie') }
}

for (const gateway of GATEWAYS) {
  t.test(`${gateway.name}: a forged route reaches the member it names only when that member may serve it`, async t => {
    const upstreams = await Upstreams.start(['normal', 'draining', 'standby', 'disabled', 'stopped'])
    const attacker = await startAttacker()
    const [normal, draining, standby, disabled, stopped] = upstreams.members
    const options: StickyOptions = {
      members: [
        normal as { url: string, route: string },
        { ...draining as { url: string, route: string }, draining: true },
        { ...standby as { url: string, route: string }, hotStandby: true },
        { ...disabled as { url: string, route: string }, disabled: true },
        { ...stopped as { url: string, route: string }, stopped: true }
      ],
      routeCookie: 'ROUTEID'
    }
    const gw = await gateway.start(options, { prefix: '' })
    t.teardown(async () => {
      await gw.close()
      await upstreams.close()
      await attacker.close()
    })
    const rows: Array<[string, string, Answer]> = [
      ['a usable member', 'ROUTEID=.normal', { member: 'normal', status: 200, setCookie: [] }],
      ['a draining member (it keeps clients whose route names it)', 'ROUTEID=.draining', { member: 'draining', status: 200, setCookie: [] }],
      ['a hot standby (it serves clients whose route names it)', 'ROUTEID=.standby', { member: 'standby', status: 200, setCookie: [] }],
      ['a disabled member', 'ROUTEID=.disabled', { member: 'normal', status: 200, setCookie: [`ROUTEID=.normal${ATTRS}`] }],
      ['a stopped member', 'ROUTEID=.stopped', { member: 'normal', status: 200, setCookie: [`ROUTEID=.normal${ATTRS}`] }],
      ['a route no member has', 'ROUTEID=.admin', { member: 'normal', status: 200, setCookie: [`ROUTEID=.normal${ATTRS}`] }],
      ['a member URL instead of a route', `ROUTEID=.${normal?.url ?? ''}`, { member: 'normal', status: 200, setCookie: [`ROUTEID=.normal${ATTRS}`] }],
      ['an address instead of a route', `ROUTEID=.${attacker.host}`, { member: 'normal', status: 200, setCookie: [`ROUTEID=.normal${ATTRS}`] }]
    ]
    for (const [name, cookie, expected] of rows) t.same(await get(gw.origin, cookie), expected, `${name}: ${cookie}`)
    // New clients only ever reach the member that takes them.
    for (let i = 0; i < 4; i++) t.same(await get(gw.origin), { member: 'normal', status: 200, setCookie: [`ROUTEID=.normal${ATTRS}`] }, `new client ${i + 1}`)
    t.same([upstreams.at(3).seen.length, upstreams.at(4).seen.length], [0, 0], 'the disabled and the stopped member saw no request')
    t.equal(attacker.connections, 0, 'nothing connected to an address that is not a member')
  })

  t.test(`${gateway.name}: opaque routes: only issued tokens name a member; previous keys are re-issued`, async t => {
    const upstreams = await Upstreams.start(['r1', 'r2', 'r3'])
    const [r1, r2, r3] = upstreams.members as Array<{ url: string, route: string }>
    const options: StickyOptions = {
      members: [r1 as { url: string, route: string }, r2 as { url: string, route: string }, { ...r3 as { url: string, route: string }, draining: true }],
      routeCookie: { name: 'ROUTEID', opaque: { key: KEY, previousKeys: [OLD] } }
    }
    const gw = await gateway.start(options, { prefix: '' })
    t.teardown(async () => {
      await gw.close()
      await upstreams.close()
    })
    const issued = new Set<string>()
    for (let i = 0; i < 6; i++) {
      const a = await get(gw.origin)
      t.ok(a.member === 'r1' || a.member === 'r2', `new client ${i + 1}: a member that takes new clients`)
      t.same(a.setCookie, [`ROUTEID=.${routeToken(KEY, a.member ?? '')}${ATTRS}`], `new client ${i + 1}: the token of its member, nothing else`)
      for (const v of a.setCookie) issued.add(v.slice('ROUTEID=.'.length, v.indexOf(';')))
    }
    t.equal(issued.size, 2, 'new clients can collect the tokens of the members that take new clients, and only those')
    t.notOk(issued.has(routeToken(KEY, 'r3')), 'the draining member\'s token was never issued')
    t.same(await get(gw.origin, `ROUTEID=.${routeToken(KEY, 'r2')}`), { member: 'r2', status: 200, setCookie: [] }, 'an issued token routes, no cookie')
    const plain = await get(gw.origin, 'ROUTEID=.r3')
    t.not(plain.member, 'r3', 'a plain route does not reach the draining member')
    t.same(plain.setCookie, [`ROUTEID=.${routeToken(KEY, plain.member ?? '')}${ATTRS}`], 'a plain route is no route: balanced, a fresh token')
    t.equal(upstreams.at(2).seen.length, 0, 'r3 saw nothing so far')
    // Whoever has the key (or an old cookie) can still name r3: the bound is the token, not the member's state.
    t.same(await get(gw.origin, `ROUTEID=.${routeToken(KEY, 'r3')}`), { member: 'r3', status: 200, setCookie: [] }, 'the draining member\'s token still routes to it')
    t.same(await get(gw.origin, `ROUTEID=.${routeToken(OLD, 'r1')}`), { member: 'r1', status: 200, setCookie: [`ROUTEID=.${routeToken(KEY, 'r1')}${ATTRS}`] },
      'a previous-key token: the same member, the cookie re-issued with the current key')
    const unknown = await get(gw.origin, `ROUTEID=.${routeToken('a-key-nobody-configured-0123456789abcdef', 'r1')}`)
    t.same(unknown.setCookie, [`ROUTEID=.${routeToken(KEY, unknown.member ?? '')}${ATTRS}`], 'a token of an unknown key: balanced, a fresh token')
    const all = (await Promise.all([get(gw.origin), get(gw.origin, 'ROUTEID=.r1')])).flatMap(a => a.setCookie)
    for (const v of all) t.match(v, /^ROUTEID=\.[A-Za-z0-9_-]{22}; /, `the value is a 22-character token, not a member name: ${v}`)
  })
}
