/**
 * Security model, "X-Forwarded-* and trust": what a member receives from each gateway when the
 * client sends forwarding headers of its own. The gateway appends what it knows (the TCP peer,
 * the Host it was sent, http/https, its host name) after what the client sent, as Apache does; it
 * never removes or rewrites what the client sent. So only the LAST entry of each header is the
 * gateway's; everything before it is the client's word. `Forwarded` (RFC 7239) and `X-Real-IP`
 * are neither added nor changed. A forged `X-Forwarded-Proto: https` does not make the balancer
 * cookie `Secure`.
 */
import { hostname } from 'node:os'
import t from 'tap'
import { Upstreams, type Echo } from '../helpers/upstreams.js'
import { exchange, headerValues } from '../helpers/raw-http.js'
import { GATEWAYS } from './harness.js'

for (const gateway of GATEWAYS) {
  t.test(`${gateway.name}: a forged X-Forwarded-For arrives as "<forged>, <real peer>"`, async t => {
    const upstreams = await Upstreams.start(['r1'])
    const gw = await gateway.start({ members: upstreams.members, routeCookie: 'ROUTEID' }, { prefix: '' })
    t.teardown(async () => {
      await gw.close()
      await upstreams.close()
    })
    const host = new URL(gw.origin).host
    const member = upstreams.at(0)
    const send = async (headers: Array<[string, string]>): Promise<{ echo: Echo, setCookie: string[] }> => {
      const before = member.seen.length
      const outcome = await exchange(gw.origin, { target: '/x', headers: [['Host', host], ...headers] })
      if (!outcome.ok) throw new Error(outcome.problem)
      t.equal(outcome.response.status, 200)
      const echo = member.seen[before]
      if (echo === undefined) throw new Error('the member saw nothing')
      return { echo, setCookie: headerValues(outcome.response, 'set-cookie') }
    }

    const plain = await send([])
    t.equal(plain.echo.headers['x-forwarded-for'], '127.0.0.1', 'no client header: the peer address alone')
    t.equal(plain.echo.headers['x-forwarded-host'], host, 'X-Forwarded-Host: the Host the client sent')
    t.equal(plain.echo.headers['x-forwarded-proto'], 'http')
    t.equal(plain.echo.headers['x-forwarded-server'], hostname(), 'X-Forwarded-Server: the gateway\'s host name')
    t.equal(plain.echo.headers['forwarded'], undefined, 'no Forwarded header is added')

    const forged = await send([
      ['X-Forwarded-For', '203.0.113.9'],
      ['X-Forwarded-Host', 'attacker.example'],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Server', 'evil.example'],
      ['Forwarded', 'for=203.0.113.9;host=attacker.example;proto=https'],
      ['X-Real-IP', '203.0.113.9']
    ])
    t.equal(forged.echo.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1', 'X-Forwarded-For: the forged value, then the real peer')
    t.equal(forged.echo.headers['x-forwarded-host'], `attacker.example, ${host}`, 'X-Forwarded-Host: the forged value, then the real Host')
    t.equal(forged.echo.headers['x-forwarded-proto'], 'https, http', 'X-Forwarded-Proto: the forged value, then the real scheme')
    t.equal(forged.echo.headers['x-forwarded-server'], `evil.example, ${hostname()}`, 'X-Forwarded-Server: the forged value, then the gateway')
    t.equal(forged.echo.headers['forwarded'], 'for=203.0.113.9;host=attacker.example;proto=https', 'Forwarded: passed as the client sent it')
    t.equal(forged.echo.headers['x-real-ip'], '203.0.113.9', 'X-Real-IP: passed as the client sent it')
    t.same(forged.setCookie, ['ROUTEID=.r1; Path=/; HttpOnly; SameSite=Lax'], 'a forged X-Forwarded-Proto: https does not make the cookie Secure')

    const twoLines = await send([['X-Forwarded-For', '198.51.100.1'], ['X-Forwarded-For', '198.51.100.2, 198.51.100.3']])
    t.equal(twoLines.echo.headers['x-forwarded-for'], '198.51.100.1, 198.51.100.2, 198.51.100.3, 127.0.0.1', 'several lines: joined, the real peer last')

    const empty = await send([['X-Forwarded-For', '']])
    t.equal(empty.echo.headers['x-forwarded-for'], '127.0.0.1', 'an empty forged value: the peer address alone')

    const junk = await send([['X-Forwarded-For', 'not-an-address, , ::1']])
    t.equal(junk.echo.headers['x-forwarded-for'], 'not-an-address, , ::1, 127.0.0.1', 'the client\'s text is not parsed or cleaned: only the last entry counts')
  })
}
