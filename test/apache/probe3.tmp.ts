import { startApache } from '../helpers/apache.js'
import { startFastify, startExpress } from '../helpers/gateways.js'
import { Upstreams } from '../helpers/upstreams.js'
import { send, memberOf } from '../helpers/client.js'
import { request } from 'node:http'
const R = ['r1', 'r2', 'r3']
const M2 = { stickySession: 'ROUTEID', routeCookie: 'ROUTEID' }
async function probe (name: string, opts: any, fn: (gw: { origin: string }, up: Upstreams, out: string[]) => Promise<void>, members?: (up: Upstreams) => any) {
  for (const [label, start] of [['apache', startApache], ['fastify', startFastify], ['express', startExpress]] as const) {
    const up = await Upstreams.start(R)
    const gw = await start({ members: members?.(up) ?? up.members, ...opts }, { prefix: '' })
    const out: string[] = []
    await fn(gw, up, out)
    console.log(`== ${name} [${label}]: ` + out.join(' ; '))
    await gw.close(); await up.close()
  }
}
const fmt = (r: any) => `${r.status} ${memberOf(r) ?? '-'} [${r.setCookie.join('|')}]`
await probe('member sets ROUTEID itself', M2, async (gw, _u, out) => {
  out.push(fmt(await send(gw.origin, { path: '/', headers: { 'x-test-set-cookie': 'ROUTEID=.r3; Path=/' } })))
  out.push(fmt(await send(gw.origin, { path: '/', cookie: 'ROUTEID=.r2', headers: { 'x-test-set-cookie': 'ROUTEID=.r3; Path=/' } })))
})
await probe('member 500 sticky', M2, async (gw, _u, out) => {
  out.push(fmt(await send(gw.origin, { path: '/', cookie: 'ROUTEID=.r2', headers: { 'x-test-status': '500' } })))
  out.push(fmt(await send(gw.origin, { path: '/', headers: { 'x-test-status': '500' } })))
  out.push(fmt(await send(gw.origin, { path: '/' })))
})
await probe('loadfactor 1, 1.5, 2.5', M2, async (gw, _u, out) => {
  for (let i = 0; i < 10; i++) out.push(memberOf(await send(gw.origin, { path: '/' })) ?? '-')
}, up => up.members.map((m, i) => ({ ...m, loadFactor: [1, 1.5, 2.5][i] })))
await probe('loadfactor 1, 100, 3', M2, async (gw, _u, out) => {
  for (let i = 0; i < 12; i++) out.push(memberOf(await send(gw.origin, { path: '/' })) ?? '-')
}, up => up.members.map((m, i) => ({ ...m, loadFactor: [1, 100, 3][i] })))
await probe('HEAD/DELETE/OPTIONS failover, retry 0', { ...M2, retry: 0 }, async (gw, up, out) => {
  await up.at(1).stop()
  for (const method of ['HEAD', 'DELETE', 'OPTIONS', 'POST', 'GET']) out.push(method + ' ' + fmt(await send(gw.origin, { path: '/', method, cookie: 'ROUTEID=.r2' })))
})
await probe('xff lines', M2, async (gw, up, out) => {
  const u = new URL(gw.origin)
  await new Promise<void>(res => { const q = request({ host: u.hostname, port: u.port, path: '/', agent: false, headers: ['Host', u.host, 'X-Forwarded-For', '1.1.1.1', 'X-Forwarded-For', '2.2.2.2', 'X-Forwarded-Host', 'a.example', 'X-Forwarded-Host', 'b.example', 'Cookie', 'ROUTEID=.r1'] }, r => { r.resume(); r.on('end', () => res()) }); q.end() })
  const h = up.at(0).seen[0]?.headers ?? {}
  out.push(JSON.stringify([h['x-forwarded-for'], String(h['x-forwarded-host']).replace(u.host, '<gw>'), h['via'], h['connection'], h['forwarded']]))
})
await probe('no Host (HTTP/1.0)', M2, async (gw, up, out) => {
  const net = await import('node:net')
  const u = new URL(gw.origin)
  const resp = await new Promise<string>(res => { const s = net.connect(Number(u.port), '127.0.0.1', () => s.write('GET / HTTP/1.0\r\nCookie: ROUTEID=.r1\r\n\r\n')); let d = ''; s.on('data', c => { d += c }); s.on('close', () => res(d)) })
  const h = up.at(0).seen[0]?.headers ?? {}
  out.push(resp.split('\r\n')[0] + ' ' + JSON.stringify([h['host']?.toString().replace(String(up.at(0).port), 'P'), h['x-forwarded-host']]))
})
