import { startApache } from '../helpers/apache.js'
import { startFastify, startExpress } from '../helpers/gateways.js'
import { Upstreams } from '../helpers/upstreams.js'
import { send, memberOf } from '../helpers/client.js'
const R = ['r1', 'r2', 'r3']
const M1 = { stickySession: 'JSESSIONID|jsessionid' }
const paths = ['/app?jsessionid=&x=1', '/app?jsessionid=', '/app?jsessionid=ABC', '/app;jsessionid=;x=ABC.r2', '/app;jsessionid=ABC.r2&x=1',
  '/app?jsessionid=ABC.r2%3Bx', '/app;jsessionid=ABC.r2%3Fx', '/app%3Bjsessionid=ABC.r2', '/app?jsessionid=ABC.', '/app?jsessionid=ABC.r2;x=1', '/app;jsessionid=ABC.r2#f',
  '/app?jsessionid=ABC.r2?x', '/app;jsessionid=ABC.r2/x', '/app;jsessionid=%41BC.r2', '/app;jsessionid=ABC.%72%32', '/app?jsessionid=ABC.%72%32', '/app?jsessionid&jsessionid=A.r2', '/app?jsessionid==.r2']
for (const p of paths) {
  const row: string[] = []
  for (const start of [startApache, startFastify, startExpress]) {
    const up = await Upstreams.start(R)
    const gw = await start({ members: up.members, ...M1 }, { prefix: '' })
    const r = await send(gw.origin, { path: p, cookie: 'JSESSIONID=A.r3' })
    row.push(`${memberOf(r) ?? r.status}:${up.list.map(m => m.seen.map(s => s.url).join(',')).join('')}`)
    await gw.close(); await up.close()
  }
  console.log(p.padEnd(34), row.join('  |  '))
}
