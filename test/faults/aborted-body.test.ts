/**
 * A client that goes away in the middle of a body the gateway is keeping for a replay: no member
 * is chosen, nothing reaches a member, nothing is held, and the gateway serves the next request.
 */
import { connect } from 'node:net'
import t from 'tap'
import { send } from '../helpers/client.js'
import { Upstreams } from '../helpers/upstreams.js'
import { GATEWAYS } from './harness.js'

t.jobs = 1
for (const gateway of GATEWAYS) {
  t.test(`${gateway.name}: a client gone mid-body`, async t => {
    const up = await Upstreams.start(['a', 'b'])
    const gw = await gateway.start({ members: up.members, stickySession: 'ROUTEID', routeCookie: 'ROUTEID' })
    t.teardown(async () => {
      await gw.close()
      await up.close()
    })
    for (const framing of ['content-length: 1000', 'transfer-encoding: chunked']) {
      const url = new URL(gw.origin)
      const socket = connect(Number(url.port), url.hostname)
      await new Promise<void>(resolve => socket.once('connect', () => resolve()))
      const part = framing.startsWith('content') ? 'x'.repeat(10) : 'a\r\nxxxxxxxxxx\r\n'
      socket.write(`POST / HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/octet-stream\r\n${framing}\r\n\r\n${part}`)
      await new Promise(resolve => setTimeout(resolve, 100))
      socket.destroy()
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    t.same(up.list.map(m => m.seen.length), [0, 0], 'nothing reached a member')
    t.same(gw.balancer.members().map(m => m.busy), [0, 0], 'no member is held')
    const next = await send(gw.origin, { method: 'POST', path: '/', body: 'next' })
    t.equal(next.status, 200, 'the next request is served')
  })
}
