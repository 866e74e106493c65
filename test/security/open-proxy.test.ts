/**
 * Security model, "only configured members": through the Fastify plugin, the Express middleware
 * and the custom gateway, over raw sockets (no client library normalises the bytes), every
 * request that names another address (absolute-form targets, Host, X-Forwarded-*, Forwarded,
 * CONNECT, `//host` paths, `@` in the target, a route naming an address) is either answered by a
 * configured member or refused with a well-formed 4xx, and the gateway never connects to that
 * address: an "attacker" server on 127.0.0.1:0, named by every hostile target, counts zero
 * connections.
 */
import t from 'tap'
import type { StickyOptions } from '@stickyroute/core'
import { Upstreams, type Echo } from '../helpers/upstreams.js'
import { exchange, headerValues, type RawRequest } from '../helpers/raw-http.js'
import { GATEWAYS, startAttacker, type Attacker } from './harness.js'

const ROUTES = ['r1', 'r2'] as const

interface Case {
  name: string
  request: (attacker: Attacker, gateway: string) => RawRequest
  /**
   * `'closed'`: Node's HTTP server closes a CONNECT request's connection without a byte when the
   * server has no 'connect' listener (no gateway here has one): refused, but not with a status.
   */
  expect?: 'closed'
}

const WS = [['Connection', 'Upgrade'], ['Upgrade', 'websocket'], ['Sec-WebSocket-Version', '13'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==']] as const

const CASES: Case[] = [
  { name: 'absolute-form target', request: (a, gw) => ({ target: `http://${a.host}/x`, headers: [['Host', gw]] }) },
  { name: 'absolute-form target and Host both name the attacker', request: a => ({ target: `http://${a.host}/x`, headers: [['Host', a.host]] }) },
  { name: 'absolute-form https target', request: a => ({ target: `https://${a.host}/x`, headers: [['Host', a.host]] }) },
  { name: 'absolute-form target with userinfo', request: (a, gw) => ({ target: `http://user:pw@${a.host}/x`, headers: [['Host', gw]] }) },
  { name: 'absolute-form target naming the gateway with the attacker in userinfo', request: (a, gw) => ({ target: `http://${a.host}@${gw}/x`, headers: [['Host', gw]] }) },
  { name: 'Host: attacker', request: a => ({ target: '/x', headers: [['Host', a.host]] }) },
  { name: 'two Host lines, the second the attacker', request: (a, gw) => ({ target: '/x', headers: [['Host', gw], ['Host', a.host]] }) },
  { name: 'X-Forwarded-Host: attacker', request: (a, gw) => ({ target: '/x', headers: [['Host', gw], ['X-Forwarded-Host', a.host]] }) },
  {
    name: 'every forwarding header names the attacker',
    request: a => ({
      target: '/x',
      headers: [['Host', a.host], ['X-Forwarded-Host', a.host], ['X-Forwarded-For', '127.0.0.1'], ['X-Forwarded-Proto', 'https'],
        ['X-Forwarded-Server', a.host], ['X-Forwarded-Port', String(a.port)], ['X-Real-IP', '127.0.0.1'], ['X-Original-URL', `http://${a.host}/`],
        ['X-Rewrite-URL', `http://${a.host}/`], ['X-Original-Host', a.host], ['Forwarded', `for=127.0.0.1;host=${a.host};proto=https`], ['Via', `1.1 ${a.host}`]]
    })
  },
  { name: 'CONNECT to the attacker', request: a => ({ method: 'CONNECT', target: a.host, headers: [['Host', a.host]] }), expect: 'closed' },
  { name: 'CONNECT to the attacker, Host the gateway', request: (a, gw) => ({ method: 'CONNECT', target: `${a.host}`, headers: [['Host', gw]] }), expect: 'closed' },
  { name: 'GET with an authority-form target', request: a => ({ target: a.host, headers: [['Host', a.host]] }) },
  { name: 'path //attacker/x', request: (a, gw) => ({ target: `//${a.host}/x`, headers: [['Host', gw]] }) },
  { name: 'path //attacker', request: (a, gw) => ({ target: `//${a.host}`, headers: [['Host', gw]] }) },
  { name: 'path ///attacker/x', request: (a, gw) => ({ target: `///${a.host}/x`, headers: [['Host', gw]] }) },
  { name: 'path /%2F%2Fattacker/x', request: (a, gw) => ({ target: `/%2F%2F${a.host}/x`, headers: [['Host', gw]] }) },
  { name: 'path /\\\\attacker/x', request: (a, gw) => ({ target: `/\\\\${a.host}/x`, headers: [['Host', gw]] }) },
  { name: 'path /@attacker/x', request: (a, gw) => ({ target: `/@${a.host}/x`, headers: [['Host', gw]] }) },
  { name: 'path /x@attacker', request: (a, gw) => ({ target: `/x@${a.host}`, headers: [['Host', gw]] }) },
  { name: 'target @attacker/x (no leading slash)', request: (a, gw) => ({ target: `@${a.host}/x`, headers: [['Host', gw]] }) },
  { name: 'target attacker/x (no scheme, no slash)', request: (a, gw) => ({ target: `${a.host}/x`, headers: [['Host', gw]] }) },
  { name: 'OPTIONS *', request: a => ({ method: 'OPTIONS', target: '*', headers: [['Host', a.host]] }) },
  { name: 'a route naming the attacker (cookie)', request: (a, gw) => ({ target: '/x', headers: [['Host', gw], ['Cookie', `ROUTEID=.${a.host}`]] }) },
  { name: 'a route naming the attacker as a URL (cookie)', request: (a, gw) => ({ target: '/x', headers: [['Host', gw], ['Cookie', `ROUTEID=.http://${a.host}`]] }) },
  { name: 'a route naming the attacker (URL parameter)', request: (a, gw) => ({ target: `/x?ROUTEID=.http://${a.host}/`, headers: [['Host', gw]] }) },
  { name: 'a WebSocket upgrade with an absolute-form target', request: a => ({ target: `http://${a.host}/ws`, headers: [['Host', a.host], ...WS] }) },
  { name: 'a WebSocket upgrade with Host: attacker', request: a => ({ target: '/ws', headers: [['Host', a.host], ['X-Forwarded-Host', a.host], ...WS] }) }
]

for (const gateway of GATEWAYS) {
  for (const preserveHost of [false, true]) {
    t.test(`${gateway.name}${preserveHost ? ' (preserveHost)' : ''}: no request reaches an address that is not a member`, async t => {
      const attacker = await startAttacker()
      const upstreams = await Upstreams.start(ROUTES)
      const options: StickyOptions = { members: upstreams.members, routeCookie: 'ROUTEID', preserveHost }
      const gw = await gateway.start(options, { prefix: '' })
      t.teardown(async () => {
        await gw.close()
        await upstreams.close()
        await attacker.close()
      })
      const gwHost = new URL(gw.origin).host
      for (const c of CASES) {
        const seenBefore = upstreams.list.map(m => m.seen.length)
        const outcome = await exchange(gw.origin, c.request(attacker, gwHost), { timeoutMs: 3000 })
        if (c.expect === 'closed') {
          t.ok(!outcome.ok && outcome.problem === 'connection closed without a response' && outcome.received.length === 0,
            `${c.name}: the connection is closed without a byte (Node's server has no CONNECT handler)`)
          t.same(upstreams.list.map(m => m.seen.length), seenBefore, `${c.name}: no member saw it either`)
          continue
        }
        if (!outcome.ok) {
          // A connection closed without an answer is a refusal too, but not a well-formed one: fail.
          t.fail(`${c.name}: no well-formed response: ${outcome.problem}`, { received: outcome.received.toString('latin1').slice(0, 200) })
          continue
        }
        const res = outcome.response
        const member = headerValues(res, 'x-member')[0]
        t.not(member, 'attacker', `${c.name}: not answered by the attacker`)
        if (member !== undefined && (ROUTES as readonly string[]).includes(member)) {
          t.equal(res.status, 200, `${c.name}: answered by the configured member ${member}`)
          const i = upstreams.list.findIndex(m => m.route === member)
          const echo = upstreams.list[i]?.seen[seenBefore[i] ?? 0] as Echo
          if (!preserveHost) t.equal(echo.headers['host'], new URL(upstreams.list[i]?.url ?? '').host, `${c.name}: the member saw its own Host`)
          t.comment(`${c.name}: member ${member} got ${echo.method} ${echo.url}`)
        } else {
          t.ok(res.status >= 400 && res.status < 500, `${c.name}: refused with a 4xx (got ${res.status})`)
          t.same(headerValues(res, 'set-cookie'), [], `${c.name}: no cookie on a refusal`)
          t.comment(`${c.name}: refused ${res.status}`)
        }
        for (const v of headerValues(res, 'set-cookie')) t.match(v, /^ROUTEID=\.(r1|r2); Path=\/; HttpOnly; SameSite=Lax$/, `${c.name}: the only Set-Cookie is the balancer's`)
      }
      // Give any connection the gateway might have started a moment to arrive.
      await new Promise(resolve => setTimeout(resolve, 100))
      t.equal(attacker.connections, 0, 'the attacker received no connection at all')
    })
  }
}
