/**
 * A member that hangs (accepts connections, never answers), with `timeout: 1, failOnTimeout:
 * true`: its requests get 504 within the timeout (bounded: under 3 s), it is put in error (its
 * clients then fail over), and the gateway holds no growing number of connections to it: every
 * connection it opened is closed once the requests are over.
 */
import { createServer, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { memberOf, send } from '../helpers/client.js'
import { Upstreams } from '../helpers/upstreams.js'
import { GATEWAYS } from './harness.js'

const CONCURRENT = 20

t.jobs = 1
for (const gateway of GATEWAYS) {
  t.test(`${gateway.name}: a member that never answers`, async t => {
    const count = { accepted: 0, closed: 0 }
    const held = new Set<Socket>()
    const hang = createServer(socket => {
      count.accepted++
      held.add(socket)
      socket.on('error', () => {})
      socket.resume() // reads (and drops) the request, so that the gateway closing the connection is seen
      socket.once('close', () => { count.closed++; held.delete(socket) })
    })
    await new Promise<void>(resolve => hang.listen(0, '127.0.0.1', resolve))
    const up = await Upstreams.start(['live1', 'live2'])
    const members = [{ url: `http://127.0.0.1:${(hang.address() as AddressInfo).port}`, route: 'hung' }, ...up.members]
    const gw = await gateway.start({ members, stickySession: 'ROUTEID', routeCookie: 'ROUTEID', timeout: 1, failOnTimeout: true })
    t.teardown(async () => {
      await gw.close()
      await up.close()
      for (const s of held) s.destroy()
      await new Promise<void>(resolve => hang.close(() => resolve()))
    })

    const start = Date.now()
    const answers = await Promise.all(Array.from({ length: CONCURRENT }, async () => await send(gw.origin, { path: '/', cookie: 'ROUTEID=.hung', timeout: 5000 })))
    const elapsed = Date.now() - start
    t.same(answers.map(a => a.status), answers.map(() => 504), 'every request to it: 504')
    t.ok(elapsed < 3000, `bounded by the timeout (${elapsed} ms for ${CONCURRENT} requests)`)
    t.same(answers.flatMap(a => a.setCookie), [], 'the balancer\'s own answers carry no cookie')
    t.equal(gw.balancer.member('hung').inError, true, 'it is put in error')

    const next = await send(gw.origin, { path: '/', cookie: 'ROUTEID=.hung', timeout: 5000 })
    t.equal(next.status, 200, 'its clients fail over')
    t.not(memberOf(next), 'hung')
    t.ok(count.accepted > 0 && count.accepted <= CONCURRENT, `at most one connection per request (${count.accepted})`)
    const deadline = Date.now() + 3000
    while (count.closed < count.accepted && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    t.equal(count.closed, count.accepted, `every connection to it was closed (${count.closed} of ${count.accepted})`)
  })
}
